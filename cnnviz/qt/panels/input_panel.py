"""The input side of the window: where the input comes from (draw, image, dataset, camera), what the
model really receives (each preprocessing step), and the prediction's bars."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QCheckBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QMenu,
    QPushButton,
    QSlider,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from cnnviz.core.choices import INPUT_SOURCES
from cnnviz.core.data.imageio import to_rgb_uint8
from cnnviz.core.data.strokes import demo_digit
from cnnviz.core.engine.frame import FrameResult
from cnnviz.qt.controller import Controller
from cnnviz.qt.images import to_pixmap
from cnnviz.qt.settings import Settings
from cnnviz.qt.state import ViewState
from cnnviz.qt.views.softmax_bars import SoftmaxBars
from cnnviz.qt.widgets.camera_panel import CameraPanel
from cnnviz.qt.widgets.canvas import DrawCanvas
from cnnviz.qt.widgets.dataset_panel import DatasetPanel

STEP_SIZE = 56  # pixels of each preprocessing step's picture
IMAGE_FILTER = "Images (*.png *.jpg *.jpeg *.bmp *.gif *.tif *.tiff *.webp);;All files (*)"


class InputPanel(QWidget):
    def __init__(self, controller: Controller, settings: Settings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.settings = settings
        self.tabs = QTabWidget()
        self.tabs.addTab(self._build_draw_tab(), "Draw")
        self.tabs.addTab(self._build_image_tab(), "Image")
        self.dataset_panel = DatasetPanel()
        self.tabs.addTab(self.dataset_panel, "Dataset")
        self.camera_panel = CameraPanel()
        self.tabs.addTab(self.camera_panel, "Camera")
        self.steps_row = QHBoxLayout()
        self.step_labels: list[QLabel] = []
        steps_box = QWidget()
        steps_box.setLayout(self.steps_row)
        steps_box.setToolTip("What the model really receives: each preprocessing step, last one fed to the model.")
        self.softmax = SoftmaxBars()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.tabs)
        layout.addWidget(QLabel("Preprocessing"))
        layout.addWidget(steps_box)
        layout.addWidget(QLabel("Prediction"))
        layout.addWidget(self.softmax, 1)
        self._shortcuts()

        # intent, to the controller
        self.canvas.changed.connect(lambda: controller.set_input("draw", self.canvas.to_array()))
        self.tabs.currentChanged.connect(self._tab_changed)
        self.dataset_panel.sample_chosen.connect(lambda image, _label: controller.set_input("dataset",
                                                                                            to_rgb_uint8(image)))
        self.dataset_panel.load_requested.connect(controller.load_dataset)
        self.dataset_panel.scan_requested.connect(self._scan)
        self.camera_panel.frame_ready.connect(lambda frame: controller.set_input("camera", frame))
        controller.set_input("draw", self.canvas.to_array())
        # results and state, from the controller
        controller.frame_ready.connect(self.show_frame)
        controller.details_ready.connect(lambda result: self.show_steps(result.steps))
        controller.state_changed.connect(self._state_changed)
        controller.input_changed.connect(self._input_changed)
        controller.image_opened.connect(lambda path: self._fill_recent(self.settings.add_recent(path)))
        controller.dataset_loaded.connect(self.dataset_panel.set_data)
        controller.sample_requested.connect(self.dataset_panel.show_sample)
        controller.predictions_ready.connect(self._predictions)

    # ---- layout -------------------------------------------------------------------------
    def _build_draw_tab(self) -> QWidget:
        self.canvas = DrawCanvas()
        clear = QPushButton("Clear")
        clear.setToolTip("Clear the canvas (Delete)")
        clear.clicked.connect(self.canvas.clear)
        undo = QPushButton("Undo")
        undo.setToolTip("Undo the last stroke (Ctrl+Z)")
        undo.clicked.connect(self.canvas.undo)
        self.eraser = QCheckBox("Eraser")
        self.eraser.setToolTip("Rub out ink (E)")
        self.eraser.toggled.connect(lambda on: setattr(self.canvas, "eraser", on))
        self.brush = QSlider(Qt.Orientation.Horizontal)
        self.brush.setRange(4, 40)
        self.brush.setValue(int(self.canvas.brush_width))
        self.brush.setToolTip("Brush size ([ and ])")
        self.brush.valueChanged.connect(lambda v: setattr(self.canvas, "brush_width", float(v)))
        tab = QWidget()
        layout = QVBoxLayout(tab)
        layout.addWidget(self.canvas, 0, Qt.AlignmentFlag.AlignHCenter)
        row = QHBoxLayout()
        row.addWidget(QLabel("Brush"))
        row.addWidget(self.brush, 1)
        row.addWidget(self.eraser)
        layout.addLayout(row)
        buttons = QHBoxLayout()
        buttons.addWidget(clear)
        buttons.addWidget(undo)
        layout.addLayout(buttons)
        return tab

    def _build_image_tab(self) -> QWidget:
        self.image_label = QLabel("Open an image (Ctrl+O), drop one on the window, or paste one (Ctrl+V).")
        self.image_label.setWordWrap(True)
        self.image_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.image_label.setMinimumSize(280, 280)
        open_button = QPushButton("Open image...")
        open_button.clicked.connect(self.open_image_dialog)
        self.recent_button = QPushButton("Recent")
        self.recent_menu = QMenu(self)
        self.recent_button.setMenu(self.recent_menu)
        self._fill_recent(self.settings.recent_files())
        tab = QWidget()
        layout = QVBoxLayout(tab)
        layout.addWidget(self.image_label, 1)
        row = QHBoxLayout()
        row.addWidget(open_button)
        row.addWidget(self.recent_button)
        layout.addLayout(row)
        return tab

    def _shortcuts(self) -> None:
        def key(sequence: str, slot) -> None:  # noqa: ANN001
            QShortcut(QKeySequence(sequence), self, slot, context=Qt.ShortcutContext.WindowShortcut)

        def on_dataset(step) -> None:  # noqa: ANN001
            if self.controller.state.source == "dataset":
                step()

        key("Ctrl+Z", self.canvas.undo)
        key("Delete", self.canvas.clear)
        key("E", self.eraser.toggle)
        key("[", lambda: self.brush.setValue(self.brush.value() - 2))
        key("]", lambda: self.brush.setValue(self.brush.value() + 2))
        key("Right", lambda: on_dataset(self.dataset_panel.next))
        key("Left", lambda: on_dataset(self.dataset_panel.previous))
        key("R", lambda: on_dataset(self.dataset_panel.random))
        for i in range(len(INPUT_SOURCES)):
            key(f"Ctrl+{i + 1}", lambda i=i: self.tabs.setCurrentIndex(i))

    # ---- intent -------------------------------------------------------------------------
    def draw_demo(self, digit: int = 7) -> None:
        self.tabs.setCurrentIndex(INPUT_SOURCES.index("draw"))
        self.canvas.draw_strokes(demo_digit(digit))

    def open_image_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open image", "", IMAGE_FILTER)
        if path:
            self.controller.open_image(path)

    def _tab_changed(self, index: int) -> None:
        source = INPUT_SOURCES[index]
        if source != "camera":
            self.camera_panel.stop()
        self.controller.set_source(source)

    def _scan(self) -> None:
        if self.dataset_panel.data is not None:
            self.controller.scan_dataset(self.dataset_panel.data)

    def _fill_recent(self, files: list[str]) -> None:
        self.recent_menu.clear()
        for path in files:
            self.recent_menu.addAction(Path(path).name, lambda p=path: self.controller.open_image(p)).setToolTip(path)
        self.recent_button.setEnabled(bool(files))

    # ---- from the controller ------------------------------------------------------------------
    def _state_changed(self, state: ViewState, old: ViewState) -> None:
        if state.source != old.source and self.tabs.currentIndex() != INPUT_SOURCES.index(state.source):
            self.tabs.setCurrentIndex(INPUT_SOURCES.index(state.source))
        if state.presenter != old.presenter:
            self.softmax.set_presenter(state.presenter)

    def _input_changed(self, source: str, picture: np.ndarray) -> None:
        """A picture set from elsewhere (an opened or pasted image, a session): show it where it belongs."""
        if source == "draw":
            self.tabs.setCurrentIndex(INPUT_SOURCES.index("draw"))
            self.canvas.set_array(picture)  # (the canvas then sends it as the input)
        elif source == "image":
            self.image_label.setPixmap(to_pixmap(picture).scaled(
                280, 280, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation))

    def _predictions(self, predicted: np.ndarray) -> None:
        self.dataset_panel.set_predictions(predicted)
        data = self.dataset_panel.data
        if data is not None:
            wrong = int((predicted != data.labels).sum())
            self.dataset_panel.scan_note.setText(
                f"{wrong} of {len(predicted)} samples are misclassified by {self.controller.state.model}.")

    def show_frame(self, result: FrameResult) -> None:
        self.softmax.set_top(list(result.top))
        if result.top and self.controller.state.source == "dataset":
            self.dataset_panel.show_prediction(result.top[0][0])

    def show_steps(self, steps: tuple) -> None:
        while len(self.step_labels) < len(steps):
            label = QLabel()
            label.setAlignment(Qt.AlignmentFlag.AlignCenter)
            # a fixed box: a pixmap of another shape (a cropped stroke) must not re-lay the whole window out
            label.setFixedSize(STEP_SIZE + 2, STEP_SIZE + 2)
            self.steps_row.addWidget(label)
            self.step_labels.append(label)
        for label, (name, image) in zip(self.step_labels, steps, strict=False):
            label.setPixmap(to_pixmap(image).scaled(STEP_SIZE, STEP_SIZE, Qt.AspectRatioMode.KeepAspectRatio))
            label.setToolTip(name)
        for label in self.step_labels[len(steps):]:
            label.clear()
