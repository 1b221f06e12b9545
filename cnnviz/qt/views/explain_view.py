"""The Explain panel: Grad-CAM, HiResCAM or a saliency map over the model input, for the predicted
class or one the user picks, and the occlusion explorer's switch.

The panel only chooses and paints; the attribution runs on the worker (cnnviz.core.teach.explain).
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QLabel,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from cnnviz.core.teach.explain import METHOD_LABELS, METHODS, Explanation

PREDICTED = -1


class ExplainPanel(QWidget):
    options_changed = Signal()
    occlusion_toggled = Signal(bool)
    occlusion_size_changed = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.method = QComboBox()
        for method in METHODS:
            self.method.addItem(METHOD_LABELS[method], method)
        self.method.setToolTip("Grad-CAM: which regions of the chosen layer's maps raised the class score "
                               "(channel weights = average gradient). HiResCAM: gradient x activation, pixel by "
                               "pixel (sharper, no averaging). Saliency: how much each input pixel moves the score.")
        self.target = QComboBox()
        self.target.setToolTip("The class to explain: the predicted one, or any other (why NOT a 7?).")
        self.layer = QComboBox()
        self.layer.setToolTip("The stage whose maps Grad-CAM weighs; 'automatic' takes the last one with maps at "
                              "least 7 pixels wide.")
        self.occlude = QCheckBox("Occlusion: drag a grey patch over the input")
        self.occlude.setToolTip("Cover part of the input with the dataset's mean grey and watch the probabilities.")
        self.patch = QSpinBox()
        self.patch.setRange(2, 112)
        self.patch.setValue(8)
        self.patch.setSuffix(" px")
        self.patch.setToolTip("Side of the grey patch, in model-input pixels.")
        for box in (self.method, self.target, self.layer):
            box.activated.connect(lambda _i: self.options_changed.emit())
        self.method.currentIndexChanged.connect(lambda _i: self.layer.setEnabled(self.method_name != "saliency"))
        self.occlude.toggled.connect(self.occlusion_toggled)
        self.patch.valueChanged.connect(self.occlusion_size_changed)
        self.view = pg.GraphicsLayoutWidget()
        self.view.setBackground("w")
        box = self.view.addViewBox(lockAspect=True, invertY=True)
        box.setMenuEnabled(False)
        box.setMouseEnabled(False, False)
        self.box = box
        self.item = pg.ImageItem(axisOrder="row-major")
        box.addItem(self.item)
        self.caption = QLabel("")
        self.caption.setWordWrap(True)
        self.caption.setAlignment(Qt.AlignmentFlag.AlignTop)
        form = QFormLayout()
        form.addRow("Method", self.method)
        form.addRow("Class", self.target)
        form.addRow("Layer", self.layer)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.view, 1)
        layout.addWidget(self.caption)
        layout.addWidget(self.occlude)
        row = QFormLayout()
        row.addRow("Patch", self.patch)
        layout.addLayout(row)
        self.last: Explanation | None = None
        self._classes: tuple[str, ...] = ()
        self._layers: tuple[str, ...] = ()
        self._shape: tuple[int, ...] = ()
        self.set_classes(())

    @property
    def method_name(self) -> str:
        return str(self.method.currentData())

    @property
    def target_index(self) -> int | None:
        value = self.target.currentData()
        return None if value is None or value == PREDICTED else int(value)

    @property
    def layer_name(self) -> str | None:
        return self.layer.currentData() or None

    def set_method(self, method: str) -> None:
        index = self.method.findData(method)
        if index >= 0:
            self.method.setCurrentIndex(index)

    def set_classes(self, names: tuple[str, ...]) -> None:
        if names == self._classes and self.target.count():
            return
        self._classes = names
        self.target.clear()
        self.target.addItem("predicted class", PREDICTED)
        for i, name in enumerate(names[:1000]):
            self.target.addItem(f"{i}: {name}" if name != str(i) else name, i)

    def set_layers(self, names: tuple[str, ...]) -> None:
        if names == self._layers:
            return
        current = self.layer_name
        self._layers = names
        self.layer.clear()
        self.layer.addItem("automatic", "")
        for name in names:
            self.layer.addItem(name, name)
        if current in names:
            self.layer.setCurrentIndex(self.layer.findData(current))

    def show_explanation(self, explanation: Explanation) -> None:
        self.last = explanation
        view = explanation.model_input
        view = np.repeat(view[..., None], 3, axis=2) if view.ndim == 2 else view[..., :3]
        gap = np.full((view.shape[0], max(1, view.shape[1] // 16), 3), 255, np.uint8)
        picture = np.hstack([view, gap, explanation.overlay])  # the input beside its explanation
        self.item.setImage(np.ascontiguousarray(picture), autoLevels=False)
        if picture.shape != self._shape:
            self._shape = picture.shape
            self.box.autoRange(padding=0.02)
        where = f" at {explanation.layer}" if explanation.layer else ""
        meaning = ("the pixels whose change would move this class's score most" if explanation.method == "saliency"
                   else "where the evidence that raised this class's score lies")
        self.caption.setText(f"{METHOD_LABELS[explanation.method]} for '{explanation.target_name}' "
                             f"(p = {explanation.probability:.2f}){where}. Bright: {meaning}.")
