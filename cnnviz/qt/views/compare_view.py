"""A/B compare: a pinned input (A) against the live one (B), or the trained model (A) against the
kernel-edited one (B), for the selected stage, with B - A beside them."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QComboBox, QGridLayout, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from cnnviz.core.teach.compare import CompareResult

MODE_LABELS = {"inputs": "pinned input (A) vs live input (B)", "edit": "trained model (A) vs edited model (B)"}


class _Picture(pg.GraphicsLayoutWidget):
    def __init__(self) -> None:
        super().__init__()
        self.setBackground("w")
        self.setMinimumSize(120, 120)
        self.box = self.addViewBox(lockAspect=True, invertY=True)
        self.box.setMenuEnabled(False)
        self.item = pg.ImageItem(axisOrder="row-major")
        self.box.addItem(self.item)
        self._shape: tuple[int, ...] = ()

    def set_image(self, image: np.ndarray) -> None:
        self.item.setImage(np.ascontiguousarray(image), autoLevels=False)
        if image.shape != self._shape:
            self._shape = image.shape
            self.box.autoRange(padding=0.01)


class CompareView(QWidget):
    pin_requested = Signal()
    mode_changed = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.mode = QComboBox()
        for key, label in MODE_LABELS.items():
            self.mode.addItem(label, key)
        self.mode.setToolTip("What A and B are. Edit a filter in the Kernel lab to compare trained and edited.")
        self.mode.activated.connect(lambda _i: self.mode_changed.emit(self.mode_name))
        self.pin = QPushButton("Pin current input as A")
        self.pin.setToolTip("Keep the current input as A; then draw or load another one: it is B (P).")
        self.pin.clicked.connect(self.pin_requested)
        self.title = QLabel("Pin an input as A, then change the input: A and B appear here side by side.")
        self.title.setWordWrap(True)
        self.pictures = {key: _Picture() for key in ("view_a", "view_b", "a", "b", "diff")}
        self.labels = {key: QLabel(text) for key, text in (("a", "A"), ("b", "B"), ("diff", "B - A"))}
        grid = QGridLayout()
        grid.addWidget(QLabel("A: input"), 0, 0)
        grid.addWidget(QLabel("B: input"), 0, 1)
        grid.addWidget(self.pictures["view_a"], 1, 0)
        grid.addWidget(self.pictures["view_b"], 1, 1)
        self.changes = QLabel("")
        self.changes.setAlignment(Qt.AlignmentFlag.AlignTop)
        self.changes.setWordWrap(True)
        grid.addWidget(self.changes, 0, 2, 2, 1)
        for col, key in enumerate(("a", "b", "diff")):
            grid.addWidget(self.labels[key], 2, col)
            grid.addWidget(self.pictures[key], 3, col)
        grid.setRowStretch(1, 1)
        grid.setRowStretch(3, 3)
        top = QHBoxLayout()
        top.addWidget(QLabel("Compare"))
        top.addWidget(self.mode, 1)
        top.addWidget(self.pin)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.title)
        layout.addLayout(grid, 1)
        self.last: CompareResult | None = None

    @property
    def mode_name(self) -> str:
        return str(self.mode.currentData())

    def set_mode(self, mode: str) -> None:
        index = self.mode.findData(mode)
        if index >= 0:
            self.mode.setCurrentIndex(index)

    def show_result(self, result: CompareResult) -> None:
        self.last = result
        for key in self.pictures:
            self.pictures[key].set_image(getattr(result, key))

        def top(values: tuple[tuple[str, float], ...]) -> str:
            return f"'{values[0][0]}' {values[0][1] * 100:.1f} %" if values else "-"

        self.labels["a"].setText(f"A: {result.stage}, predicts {top(result.top_a)}")
        self.labels["b"].setText(f"B: {result.stage}, predicts {top(result.top_b)}")
        self.labels["diff"].setText(f"B - A (white: equal; largest |B - A| = {result.largest:.3g})")
        what = MODE_LABELS[result.mode]
        self.title.setText(f"{what}: stage {result.stage}. A and B share one colour scale per channel.")
        moved = sorted(result.changes, key=lambda c: -c.relative)[:8]
        self.changes.setText("Largest changes (mean |B - A| / mean |A|):\n" + "\n".join(
            f"{c.name}: {c.relative * 100:.0f} %" for c in moved))
