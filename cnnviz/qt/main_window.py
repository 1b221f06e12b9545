"""The main window: input on the left, the network's stages in the middle, the selected
stage's feature maps and the softmax bars on the right. It paints results; it computes nothing.
"""

from __future__ import annotations

import time
from collections import deque

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QPushButton,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from cnnviz.core.device import available_devices
from cnnviz.core.errors import CnnvizError
from cnnviz.core.frame import FrameRequest, FrameResult
from cnnviz.core.imageio import read_image
from cnnviz.core.strokes import demo_digit
from cnnviz.core.zoo import registry, weights_present
from cnnviz.qt.images import to_pixmap
from cnnviz.qt.views.softmax_bars import SoftmaxBars
from cnnviz.qt.widgets.canvas import DrawCanvas
from cnnviz.qt.worker import LoadRequest, WorkerThread

pg.setConfigOptions(imageAxisOrder="row-major", antialias=False)


class MainWindow(QMainWindow):
    #: Emitted after a result has been painted (the screenshot and benchmarks wait for it).
    result_painted = Signal(object)

    def __init__(self, model: str = "lenet5-mnist", device: str = "auto", untrained: bool = False) -> None:
        super().__init__()
        self.setWindowTitle("cnnviz")
        self.resize(1280, 800)
        self._device = device
        self._untrained = untrained
        self._rgb: np.ndarray | None = None
        self._source = "draw"
        self._selected: str | None = None
        self._times: deque[float] = deque(maxlen=30)
        self.last_result: FrameResult | None = None
        self._thread = WorkerThread()
        worker = self._thread.worker
        worker.result_ready.connect(self._show_result)
        worker.model_loaded.connect(self._model_loaded)
        worker.failed.connect(self.show_error)
        self._build(model)
        worker.submit(LoadRequest(model, device, untrained))

    # ---- layout -------------------------------------------------------------------------
    def _build(self, model: str) -> None:
        self.model_box = QComboBox()
        for name, spec in registry().items():
            mark = "" if spec.weights is None else (" (trained)" if weights_present(spec) else " (weights not here)")
            self.model_box.addItem(f"{name}{mark}" if spec.weights else f"{name} (untrained)", name)
        index = self.model_box.findData(model)
        if index >= 0:
            self.model_box.setCurrentIndex(index)
        self.model_box.activated.connect(self._choose_model)
        self.model_box.setToolTip("The network to look inside; untrained ones have random weights.")
        self.device_box = QComboBox()
        self.device_box.addItems(["auto", *available_devices()])
        self.device_box.setCurrentText(self._device if self._device in available_devices() else "auto")
        self.device_box.activated.connect(self._choose_model)
        self.device_box.setToolTip("Where the forward pass runs.")

        self.canvas = DrawCanvas()
        self.canvas.changed.connect(self._canvas_changed)
        clear = QPushButton("Clear")
        clear.clicked.connect(self.canvas.clear)
        undo = QPushButton("Undo")
        undo.clicked.connect(self.canvas.undo)
        draw_tab = QWidget()
        draw_layout = QVBoxLayout(draw_tab)
        draw_layout.addWidget(self.canvas)
        buttons = QHBoxLayout()
        buttons.addWidget(clear)
        buttons.addWidget(undo)
        draw_layout.addLayout(buttons)
        self.image_label = QLabel("Open an image file to use it as the input.")
        self.image_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.image_label.setMinimumSize(280, 280)
        open_button = QPushButton("Open image...")
        open_button.clicked.connect(self._open_image_dialog)
        image_tab = QWidget()
        image_layout = QVBoxLayout(image_tab)
        image_layout.addWidget(self.image_label)
        image_layout.addWidget(open_button)
        self.tabs = QTabWidget()
        self.tabs.addTab(draw_tab, "Draw")
        self.tabs.addTab(image_tab, "Image")
        self.tabs.currentChanged.connect(self._tab_changed)

        self.steps_row = QHBoxLayout()
        self.step_labels: list[QLabel] = []
        steps_box = QWidget()
        steps_box.setLayout(self.steps_row)
        steps_box.setToolTip("What the model really receives: each preprocessing step.")
        self.softmax = SoftmaxBars()

        left = QWidget()
        left_layout = QVBoxLayout(left)
        top = QHBoxLayout()
        top.addWidget(QLabel("Model"))
        top.addWidget(self.model_box, 1)
        top.addWidget(QLabel("Device"))
        top.addWidget(self.device_box)
        left_layout.addLayout(top)
        left_layout.addWidget(self.tabs)
        left_layout.addWidget(QLabel("Preprocessing"))
        left_layout.addWidget(steps_box)
        left_layout.addWidget(QLabel("Prediction"))
        left_layout.addWidget(self.softmax, 1)

        self.stage_list = QListWidget()
        self.stage_list.setToolTip("Every stage of the forward pass in the order it ran; click one to see its maps.")
        self.stage_list.currentItemChanged.connect(self._stage_clicked)

        self.maps_title = QLabel("")
        self.maps_view = pg.GraphicsLayoutWidget()
        self.maps_view.setBackground("w")
        self.maps_box = self.maps_view.addViewBox(lockAspect=True, invertY=True)
        self.maps_box.setMenuEnabled(False)
        self.maps_item = pg.ImageItem(axisOrder="row-major")
        self.maps_box.addItem(self.maps_item)
        self.maps_view.setToolTip("Feature maps of the selected stage, one tile per channel: "
                                  "blue-white-red shows sign, viridis shows magnitude.")
        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.addWidget(self.maps_title)
        right_layout.addWidget(self.maps_view, 1)

        self.banner = QLabel("")
        self.banner.setStyleSheet("background:#fde2e1;color:#7a1712;padding:6px;border-radius:3px;")
        self.banner.setWordWrap(True)
        self.banner.hide()
        splitter = QSplitter()
        splitter.addWidget(left)
        splitter.addWidget(self.stage_list)
        splitter.addWidget(right)
        splitter.setSizes([380, 220, 680])
        central = QWidget()
        central_layout = QVBoxLayout(central)
        central_layout.addWidget(self.banner)
        central_layout.addWidget(splitter, 1)
        self.setCentralWidget(central)
        self.status_label = QLabel("loading model...")
        self.statusBar().addWidget(self.status_label, 1)
        QShortcut(QKeySequence("Ctrl+O"), self, self._open_image_dialog)
        QShortcut(QKeySequence("Ctrl+Z"), self, self.canvas.undo)
        QShortcut(QKeySequence("Delete"), self, self.canvas.clear)

    # ---- input ----------------------------------------------------------------------------
    def draw_demo(self, digit: int = 7) -> None:
        self.tabs.setCurrentIndex(0)
        self.canvas.draw_strokes(demo_digit(digit))

    def _canvas_changed(self) -> None:
        if self._source == "draw":
            self._rgb = self.canvas.to_array()
            self._submit()

    def _tab_changed(self, index: int) -> None:
        self._source = "draw" if index == 0 else "image"
        if self._source == "draw":
            self._canvas_changed()

    def _open_image_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Open image", "", "Images (*.png *.jpg *.jpeg *.bmp *.gif *.tif *.tiff *.webp)")
        if path:
            self.open_image(path)

    def open_image(self, path: str) -> bool:
        """Load an image as the input; on failure say why and keep the previous input."""
        try:
            image = read_image(path)
        except CnnvizError as exc:
            self.show_error(str(exc))
            return False
        self._image_rgb = image.rgb
        self.image_label.setPixmap(to_pixmap(image.rgb).scaled(
            280, 280, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation))
        self.tabs.setCurrentIndex(1)
        self._source = "image"
        self._rgb = image.rgb
        self.hide_error()
        if image.notes:
            self.status_label.setText(" ".join(image.notes))
        self._submit()
        return True

    def _submit(self) -> None:
        if self._rgb is not None:
            self._thread.worker.submit(FrameRequest(self._rgb, self._selected))

    # ---- model ----------------------------------------------------------------------------
    def _choose_model(self, _index: int = 0) -> None:
        name = self.model_box.currentData()
        self._device = self.device_box.currentText()
        self.status_label.setText(f"loading {name}...")
        self._thread.worker.submit(LoadRequest(name, self._device, self._untrained))

    def _model_loaded(self, _model: object, description: str) -> None:
        self.hide_error()
        self.status_label.setText(f"{description} loaded")
        if self._rgb is None:
            self._rgb = self.canvas.to_array()
        self._submit()

    # ---- results --------------------------------------------------------------------------
    def _stage_clicked(self, item: QListWidgetItem | None, _previous: QListWidgetItem | None = None) -> None:
        if item is not None:
            name = item.data(Qt.ItemDataRole.UserRole)
            if name != self._selected:
                self._selected = name
                self._submit()

    def _show_result(self, result: FrameResult) -> None:
        self.last_result = result
        self._fill_stage_list(result)
        self.maps_item.setImage(result.mosaic, autoLevels=False, levels=(0, 255))
        self.maps_box.autoRange(padding=0.01)
        shape = next(s.shape for s in result.stages if s.name == result.selected)
        self.maps_title.setText(f"{result.selected}: {'x'.join(map(str, shape))}")
        self.softmax.set_top(list(result.top))
        self._show_steps(result.steps)
        now = time.perf_counter()
        self._times.append(now)
        rate = (len(self._times) - 1) / (self._times[-1] - self._times[0]) if len(self._times) > 1 else 0.0
        device = self.device_box.currentText()
        note = f" | {result.notes[0]}" if result.notes else ""
        self.status_label.setText(f"{result.model_name} on {device} | forward {result.forward_ms:.1f} ms | "
                                  f"{rate:.0f} updates/s{note}")
        self.result_painted.emit(result)

    def _fill_stage_list(self, result: FrameResult) -> None:
        names = [s.name for s in result.stages]
        current = [self.stage_list.item(i).data(Qt.ItemDataRole.UserRole) for i in range(self.stage_list.count())]
        if names != current:
            self.stage_list.blockSignals(True)
            self.stage_list.clear()
            for s in result.stages:
                item = QListWidgetItem(f"{s.name}  [{s.kind}]  {'x'.join(map(str, s.shape))}")
                item.setData(Qt.ItemDataRole.UserRole, s.name)
                self.stage_list.addItem(item)
            self.stage_list.blockSignals(False)
        row = names.index(result.selected)
        if self.stage_list.currentRow() != row:
            self.stage_list.blockSignals(True)
            self.stage_list.setCurrentRow(row)
            self.stage_list.blockSignals(False)
        self._selected = result.selected

    def _show_steps(self, steps: tuple) -> None:
        while len(self.step_labels) < len(steps):
            label = QLabel()
            label.setAlignment(Qt.AlignmentFlag.AlignCenter)
            self.steps_row.addWidget(label)
            self.step_labels.append(label)
        for label, (name, image) in zip(self.step_labels, steps, strict=False):
            label.setPixmap(to_pixmap(image).scaled(64, 64, Qt.AspectRatioMode.KeepAspectRatio))
            label.setToolTip(name)
        for label in self.step_labels[len(steps):]:
            label.clear()

    # ---- errors ---------------------------------------------------------------------------
    def show_error(self, message: str) -> None:
        self.banner.setText(message)
        self.banner.show()

    def hide_error(self) -> None:
        self.banner.hide()

    def closeEvent(self, event) -> None:  # noqa: ANN001
        self._thread.stop()
        super().closeEvent(event)

    def shutdown(self) -> None:
        self._thread.stop()
