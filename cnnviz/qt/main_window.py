"""The main window: inputs on the left, the network strip on top, the selected stage's maps in
the middle, and beside them the input with the hovered pixel's receptive field, the arithmetic
behind it, the channel through its block and the filters. It paints results; it computes nothing
heavier than the hover arithmetic of one pixel.
"""

from __future__ import annotations

import time
from collections import deque
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, Qt, QTimer, Signal
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QGuiApplication, QImage, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QMenu,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSlider,
    QSpinBox,
    QSplitter,
    QTabWidget,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from cnnviz.core.arithmetic import conv_arithmetic
from cnnviz.core.datasets import load_dataset
from cnnviz.core.device import available_devices
from cnnviz.core.frame import FrameRequest, FrameResult
from cnnviz.core.imageio import read_image, to_rgb_uint8
from cnnviz.core.inference import run_image
from cnnviz.core.kernel_lab import LabRequest
from cnnviz.core.strokes import demo_digit
from cnnviz.core.zoo import registry, spec_of, weights_present
from cnnviz.qt import gc_guard
from cnnviz.qt.classroom import Classroom
from cnnviz.qt.images import bold_font, to_pixmap
from cnnviz.qt.kernel_lab import KernelLabPanel
from cnnviz.qt.settings import Settings
from cnnviz.qt.views.arithmetic_view import ArithmeticView
from cnnviz.qt.views.chain_view import ChainView
from cnnviz.qt.views.feature_maps import FeatureMapView
from cnnviz.qt.views.filters_view import FiltersView
from cnnviz.qt.views.input_view import InputView
from cnnviz.qt.views.network_strip import NetworkStrip
from cnnviz.qt.views.softmax_bars import SoftmaxBars
from cnnviz.qt.widgets.camera_panel import CameraPanel
from cnnviz.qt.widgets.canvas import DrawCanvas
from cnnviz.qt.widgets.dataset_panel import DatasetPanel
from cnnviz.qt.widgets.readout import Readout
from cnnviz.qt.worker import EditRequest, JobRequest, LoadRequest, WorkerThread

pg.setConfigOptions(imageAxisOrder="row-major", antialias=False)

TABS = ("draw", "image", "dataset", "camera")
DETAIL_INTERVAL = 0.1
STATUS_INTERVAL = 0.25  # seconds between the status line's forward-time updates
STEP_SIZE = 56  # pixels of each preprocessing step's picture
DEFAULT_MODEL = "lenet5-mnist"


class MainWindow(QMainWindow):
    #: Emitted after a result has been painted (the screenshot and benchmarks wait for it).
    result_painted = Signal(object)
    lab_painted = Signal(object)
    #: Emitted (on the GUI thread) whenever a message is shown in the banner.
    error_shown = Signal(str)

    def __init__(self, model: str | None = None, device: str | None = None, untrained: bool = False,
                 settings: Settings | None = None) -> None:
        super().__init__()
        gc_guard.acquire()  # garbage collection on this thread only, never on the worker's (see gc_guard)
        self._shut = False
        self.settings = settings or Settings()
        self._from_settings = model is None
        self._keep_banner = False  # a message that must survive the next model load (fallbacks)
        if model is None:
            model = self.settings.model
            untrained = untrained or self.settings.untrained
        self._device = device or self.settings.device
        self.setWindowTitle("cnnviz")
        self.resize(1500, 920)
        self._untrained = untrained
        self._inputs: dict[str, np.ndarray] = {}
        self._source = "draw"
        self._selected: str | None = None
        self._channel = 0
        self._in_channel: int | None = None
        self._model_name = model
        self._times: deque[float] = deque(maxlen=30)
        self.last_result: FrameResult | None = None
        self._awaiting_paint = False  # a frame result was handed to the views and not painted yet
        self._thread = WorkerThread()
        worker = self._thread.worker
        worker.result_ready.connect(self._queue_result)
        worker.model_loaded.connect(self._model_loaded)
        worker.failed.connect(self._worker_failed)
        worker.untrusted.connect(self._ask_trust)
        worker.job_done.connect(self._job_done)
        worker.loading.connect(self._loading)
        worker.lab_ready.connect(self._queue_lab_result)
        worker.edited.connect(self._edited_changed)
        worker.fell_back.connect(self._fell_back)
        self._edited = False
        self._last_detail = 0.0
        self.input_changed_at = 0.0  # when the input last changed source or picture (perf_counter)
        self._detail_timer = QTimer(self)
        self._detail_timer.setSingleShot(True)
        self._detail_timer.setInterval(int(DETAIL_INTERVAL * 1000))
        self._detail_timer.timeout.connect(lambda: self._submit(detail=True, refresh=True))
        self._last_stamp = 0.0  # when the input of the last request was made
        self._status_at = 0.0  # when a result last wrote the status line
        self._next: dict[str, object] = {}  # the latest undrawn result of each kind
        self.magnitude_map = self.settings.magnitude_map  # read once: QSettings is slow on every frame
        self.frozen = False  # presenter's freeze: inputs are kept but nothing is recomputed or repainted
        self._occlusion: tuple[int, int, int] | None = None
        self._build()
        self.classroom = Classroom(self)
        self._select_model_in_box(model)
        geometry = self.settings.geometry()
        if geometry is not None:
            self.restoreGeometry(geometry)
        worker.submit(LoadRequest(model, self._device, untrained))
        self.load_dataset("samples-mnist", "")

    # ---- layout -------------------------------------------------------------------------
    def _build(self) -> None:
        self._build_menu()
        self._build_toolbar()
        self.tabs = QTabWidget()
        self.tabs.addTab(self._build_draw_tab(), "Draw")
        self.tabs.addTab(self._build_image_tab(), "Image")
        self.dataset_panel = DatasetPanel()
        self.dataset_panel.sample_chosen.connect(self._sample_chosen)
        self.dataset_panel.load_requested.connect(self.load_dataset)
        self.dataset_panel.scan_requested.connect(self._scan_dataset)
        self.tabs.addTab(self.dataset_panel, "Dataset")
        self.camera_panel = CameraPanel()
        self.camera_panel.frame_ready.connect(self._camera_frame)
        self.tabs.addTab(self.camera_panel, "Camera")
        self.tabs.currentChanged.connect(self._tab_changed)

        self.steps_row = QHBoxLayout()
        self.step_labels: list[QLabel] = []
        steps_box = QWidget()
        steps_box.setLayout(self.steps_row)
        steps_box.setToolTip("What the model really receives: each preprocessing step, last one fed to the model.")
        self.softmax = SoftmaxBars()
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(4, 4, 4, 4)
        left_layout.addWidget(self.tabs)
        left_layout.addWidget(QLabel("Preprocessing"))
        left_layout.addWidget(steps_box)
        left_layout.addWidget(QLabel("Prediction"))
        left_layout.addWidget(self.softmax, 1)

        self.strip = NetworkStrip()
        self.strip.stage_selected.connect(self.select_stage)
        self.strip.scrolled.connect(lambda: self._submit(detail=True))
        self.maps_title = Readout("")
        self.maps_title.setFont(bold_font())
        self.maps = FeatureMapView()
        self.maps.hovered.connect(self._hovered)
        self.maps.left.connect(self._unhovered)
        self.maps.tile_clicked.connect(self._tile_clicked)
        middle = QWidget()
        middle_layout = QVBoxLayout(middle)
        middle_layout.setContentsMargins(0, 0, 0, 0)
        middle_layout.addWidget(self.maps_title)
        middle_layout.addWidget(self.maps, 1)

        self.input_view = InputView()
        self.arithmetic = ArithmeticView()
        self.chain = ChainView()
        self.filters = FiltersView()
        self.filters.in_channel_changed.connect(self._in_channel_changed)
        right = QSplitter(Qt.Orientation.Vertical)
        for widget in (self.input_view, self.arithmetic, self.chain, self.filters):
            right.addWidget(widget)
        right.setSizes([220, 200, 150, 250])

        body = self.body = QSplitter()
        body.addWidget(middle)
        body.addWidget(right)
        body.setSizes([700, 380])
        body.setStretchFactor(0, 3)
        body.setStretchFactor(1, 1)
        network = QWidget()
        centre_layout = QVBoxLayout(network)
        centre_layout.setContentsMargins(0, 0, 0, 0)
        centre_layout.addWidget(self.strip)
        centre_layout.addWidget(body, 1)
        self.lab = KernelLabPanel()
        self.lab.changed.connect(self._submit_lab)
        self.lab.edit_requested.connect(lambda edit: self._thread.worker.submit(EditRequest(edit)))
        self.views = QTabWidget()
        self.views.addTab(network, "Network")
        self.views.addTab(self.lab, "Kernel lab")
        self.views.setTabToolTip(1, "Hand-made kernels: conv -> ReLU -> pool on the input, and into the network.")
        self.views.currentChanged.connect(lambda _i: self._submit_lab())
        centre = self.views

        self.banner = QLabel("")
        self.banner.setStyleSheet("background:#fde2e1;color:#7a1712;padding:6px;border-radius:3px;")
        self.banner.setWordWrap(True)
        self.banner.hide()
        self.splitter = QSplitter()
        self.splitter.addWidget(left)
        self.splitter.addWidget(centre)
        self.splitter.setSizes([380, 1120])
        self.splitter.setStretchFactor(0, 0)
        self.splitter.setStretchFactor(1, 1)
        central = QWidget()
        central_layout = QVBoxLayout(central)
        central_layout.setContentsMargins(4, 0, 4, 0)
        central_layout.addWidget(self.banner)
        central_layout.addWidget(self.splitter, 1)
        self.setCentralWidget(central)
        self.status_label = Readout("loading model...", elide=True)  # (a long reading must not widen the window)
        self.status_label.setMinimumWidth(200)
        self.busy = QProgressBar()
        self.busy.setRange(0, 0)
        self.busy.setMaximumWidth(120)
        self.busy.hide()
        self.statusBar().addWidget(self.status_label, 1)
        self.statusBar().addPermanentWidget(self.busy)
        self.setAcceptDrops(True)
        self._shortcuts()

    def _build_menu(self) -> None:
        menu = self.file_menu = self.menuBar().addMenu("&File")
        menu.addAction("Open image...", QKeySequence("Ctrl+O"), self._open_image_dialog)
        menu.addAction("Open model file...", QKeySequence("Ctrl+Shift+O"), self._open_model_dialog)
        menu.addAction("Paste image", QKeySequence("Ctrl+V"), self.paste)
        menu.addSeparator()
        menu.addAction("Quit", QKeySequence("Ctrl+Q"), self.close)
        help_menu = self.help_menu = self.menuBar().addMenu("&Help")
        help_menu.addAction("About cnnviz", self.show_about)

    def about_text(self) -> str:
        from cnnviz.core.about import version_lines

        param = next(self._thread.worker.model.parameters(), None) if self._thread.worker.model else None
        device = param.device if param is not None else self._device
        lines = version_lines(device)
        return ("<b>cnnviz</b>: see inside a convolutional network while it works.<br><br>"
                + "<br>".join(lines[:3]) + f"<br>model: {self._model_name}<br>{lines[3]}")

    def show_about(self) -> None:
        QMessageBox.about(self, "About cnnviz", self.about_text())

    def _build_toolbar(self) -> None:
        bar = QToolBar("Model")
        bar.setMovable(False)
        self.addToolBar(bar)
        self.model_box = QComboBox()
        self.model_box.setMinimumWidth(230)
        for name, spec in registry().items():
            if spec.weights is None:
                mark = " (untrained)"
            elif weights_present(spec):
                mark = " (trained)"
            else:
                mark = " (weights not here)"
            self.model_box.addItem(name + mark, name)
        self.model_box.activated.connect(self._choose_model)
        self.model_box.setToolTip("The network to look inside; untrained ones have random weights.")
        open_model = QPushButton("Open model file...")
        open_model.setToolTip("Open your own checkpoint (.safetensors, .pt, .pth). Ctrl+Shift+O")
        open_model.clicked.connect(self._open_model_dialog)
        self.device_box = QComboBox()
        self.device_box.addItems(["auto", *available_devices()])
        if self._device in ["auto", *available_devices()]:
            self.device_box.setCurrentText(self._device)
        self.device_box.activated.connect(self._choose_device)
        self.device_box.setToolTip("Where the forward pass runs; switching reloads the model there.")
        self.top_k = QSpinBox()
        self.top_k.setRange(1, 20)
        self.top_k.setValue(self.settings.top_k)
        self.top_k.setToolTip("How many classes the softmax bars show.")
        self.top_k.valueChanged.connect(lambda _v: self._submit())
        self.per_channel = QCheckBox("per-channel scale")
        self.per_channel.setChecked(True)
        self.per_channel.setToolTip("Scale each channel's colours to its own range (on) or share one range (off).")
        self.per_channel.toggled.connect(lambda _v: self._submit())
        for widget in (QLabel(" Model "), self.model_box, open_model, QLabel("  Device "), self.device_box,
                       QLabel("  Top-k "), self.top_k, QLabel("  "), self.per_channel):
            bar.addWidget(widget)

    def _build_draw_tab(self) -> QWidget:
        self.canvas = DrawCanvas()
        self.canvas.changed.connect(self._canvas_changed)
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
        open_button.clicked.connect(self._open_image_dialog)
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
            QShortcut(QKeySequence(sequence), self, slot)

        key("Ctrl+Z", self.canvas.undo)
        key("Delete", self.canvas.clear)
        key("E", self.eraser.toggle)
        key("[", lambda: self.brush.setValue(self.brush.value() - 2))
        key("]", lambda: self.brush.setValue(self.brush.value() + 2))
        key("Right", lambda: self.dataset_panel.next() if self._source == "dataset" else None)
        key("Left", lambda: self.dataset_panel.previous() if self._source == "dataset" else None)
        key("R", lambda: self.dataset_panel.random() if self._source == "dataset" else None)
        for i in range(4):
            key(f"Ctrl+{i + 1}", lambda i=i: self.tabs.setCurrentIndex(i))

    # ---- inputs ---------------------------------------------------------------------------
    def draw_demo(self, digit: int = 7) -> None:
        self.tabs.setCurrentIndex(0)
        self.canvas.draw_strokes(demo_digit(digit))

    def _canvas_changed(self) -> None:
        self._inputs["draw"] = self.canvas.to_array()
        if self._source == "draw":
            self._submit()

    def _tab_changed(self, index: int) -> None:
        self._source = TABS[index]
        if self._source != "camera":
            self.camera_panel.stop()
        if self._source == "draw" and "draw" not in self._inputs:
            self._inputs["draw"] = self.canvas.to_array()
        self.input_changed_at = time.perf_counter()
        self._submit(detail=True)  # another input: every view at once

    def _open_image_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Open image", "", "Images (*.png *.jpg *.jpeg *.bmp *.gif *.tif *.tiff *.webp);;All files (*)")
        if path:
            self.open_image(path)

    def open_image(self, path: str) -> None:
        """Use an image file as the input. The file is read on the worker (a large image must not
        freeze the window); on failure the message shows and the previous input stays."""
        self.status_label.setText(f"opening {Path(path).name}...")
        self._thread.worker.submit(JobRequest("image", lambda _model: (path, read_image(path))))

    def paste(self) -> bool:
        image = QGuiApplication.clipboard().image()
        if image.isNull():
            self.show_error("The clipboard holds no image; copy one first.")
            return False
        image = image.convertToFormat(QImage.Format.Format_RGB888)
        ptr = image.constBits()
        array = np.frombuffer(ptr, np.uint8, count=image.sizeInBytes()).reshape(image.height(), image.bytesPerLine())
        rgb = array[:, : image.width() * 3].reshape(image.height(), image.width(), 3).copy()
        self._use_image(rgb, "pasted from the clipboard.")
        return True

    def _use_image(self, rgb: np.ndarray, note: str = "") -> None:
        self.image_label.setPixmap(to_pixmap(rgb).scaled(
            280, 280, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation))
        self._inputs["image"] = rgb
        self.hide_error()
        if note:
            self.status_label.setText(note)
        self.input_changed_at = time.perf_counter()
        if self.tabs.currentIndex() != 1:
            self.tabs.setCurrentIndex(1)  # submits through _tab_changed
        else:
            self._submit(detail=True)  # a new picture: every view at once

    def _fill_recent(self, files: list[str]) -> None:
        self.recent_menu.clear()
        for path in files:
            self.recent_menu.addAction(Path(path).name, lambda p=path: self.open_image(p)).setToolTip(path)
        self.recent_button.setEnabled(bool(files))

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if event.mimeData().hasUrls() or event.mimeData().hasImage():
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        urls = [u for u in event.mimeData().urls() if u.isLocalFile()]
        if urls:
            self.open_image(urls[0].toLocalFile())

    def _sample_chosen(self, image: np.ndarray, _label: int) -> None:
        self._inputs["dataset"] = to_rgb_uint8(image)
        if self._source == "dataset":
            self._submit()

    def _camera_frame(self, frame: np.ndarray) -> None:
        self._inputs["camera"] = frame
        if self._source == "camera":
            self._submit()

    def load_dataset(self, name: str, root: str) -> None:
        self._thread.worker.submit(JobRequest("dataset", lambda _model: load_dataset(name, root or None, train=False)))

    def _scan_dataset(self) -> None:
        data = self.dataset_panel.data

        def scan(model) -> np.ndarray:  # noqa: ANN001 - runs on the worker
            names = spec_of(model).class_names
            predicted = [names.index(run_image(model, image, 1).top[0][0]) for image in data.images]
            return np.asarray(predicted)

        if data is not None:
            self.status_label.setText("looking for misclassified samples...")
            self._thread.worker.submit(JobRequest("scan", scan))

    def _job_done(self, tag: str, result: object) -> None:
        if tag == "image":
            path, image = result
            self._fill_recent(self.settings.add_recent(str(Path(path).resolve())))
            self._use_image(image.rgb, " ".join(image.notes))
        elif tag == "dataset":
            self.dataset_panel.set_data(result)
        elif tag == "scan":
            self.dataset_panel.set_predictions(result)
            wrong = int((result != self.dataset_panel.data.labels).sum())
            note = f"{wrong} of {len(result)} samples are misclassified by {self._model_name}."
            self.dataset_panel.scan_note.setText(note)
            self.status_label.setText(note)

    def set_presenter(self, on: bool) -> None:
        """Presenter mode: the maps get the room; the text-heavy arithmetic, block and filter views step
        aside (the input with its receptive field stays)."""
        for view in (self.arithmetic, self.chain, self.filters):
            view.setVisible(not on)

        def share() -> None:
            width = max(1, self.body.width())
            self.body.setSizes([int(width * (0.7 if on else 0.65)), int(width * (0.3 if on else 0.35))])

        QTimer.singleShot(0, share)  # once the new fonts and full-screen size have been laid out

    def current_input(self) -> np.ndarray | None:
        return self._inputs.get(self._source)

    def set_frozen(self, frozen: bool) -> None:
        """Freeze: stop updating while explaining (inputs are still taken); unfreezing shows the latest."""
        self.frozen = frozen
        if frozen:
            self._next.clear()
            self.status_label.setText("FROZEN: the views hold still (F goes live again).")
        else:
            self._submit(detail=True)

    def set_occlusion(self, box: tuple[int, int, int] | None) -> None:
        self._occlusion = box
        self._submit()

    def _submit(self, detail: bool | None = None, refresh: bool = False) -> None:
        """Every input updates the maps, input view and bars; the secondary views (strip thumbnails,
        block chain, filters, preprocessing steps) refresh at most every DETAIL_INTERVAL seconds."""
        if self.frozen:
            return
        rgb = self._inputs.get(self._source)
        if not refresh:  # (a refresh redraws the same input: the lab has nothing new to show)
            self._submit_lab()
        if rgb is not None:
            now = time.perf_counter()
            if detail is None:
                detail = now - self._last_detail >= DETAIL_INTERVAL
            if detail:
                self._last_detail = now
                self._detail_timer.stop()
            elif not self._detail_timer.isActive():
                self._detail_timer.start()  # the secondary views catch up with the last input once it stops
            # a refresh redraws the last input: it keeps that input's stamp (latency is from the input)
            stamp = self._last_stamp if refresh and self._last_stamp else now
            self._last_stamp = stamp
            self._thread.worker.submit(FrameRequest(
                rgb, self._selected, self.per_channel.isChecked(), self.top_k.value(), self._channel,
                self._in_channel, detail=detail, occlusion=self._occlusion,
                magnitude_map=self.magnitude_map, visible=self.strip.visible_names() if detail else None,
                stamp=stamp))

    def _submit_lab(self) -> None:
        """The lab recomputes only while it is on screen."""
        rgb = self._inputs.get(self._source)
        if rgb is None or self.views.currentWidget() is not self.lab:
            return
        lab = self.lab
        self._thread.worker.submit(LabRequest(rgb, tuple(lab.bank), lab.padding.currentText(), lab.stride.value(),
                                              lab.pool.value(), lab.pool_kind.currentText()))

    def _queue_result(self, result: FrameResult) -> None:
        self._queue("frame", result)

    def _queue_lab_result(self, result: object) -> None:
        self._queue("lab", result)

    def _queue(self, kind: str, result: object) -> None:
        """Results that arrive while the GUI is busy replace each other: only the latest is painted,
        so a slow paint never builds a backlog (latest wins on this side of the worker too)."""
        first = kind not in self._next
        self._next[kind] = result
        if first:
            QTimer.singleShot(0, lambda: self._paint_latest(kind))

    def _paint_latest(self, kind: str) -> None:
        result = self._next.pop(kind, None)
        if result is None or self.frozen:
            return
        if kind == "frame":
            self._show_result(result)
        else:
            self.lab.show_result(result)
            self.lab_painted.emit(result)

    def _edited_changed(self, edited: bool) -> None:
        self._edited = edited
        self.setWindowTitle("cnnviz (model edited: a filter holds your kernel)" if edited else "cnnviz")
        self._submit()

    # ---- model ----------------------------------------------------------------------------
    def _select_model_in_box(self, name: str) -> None:
        index = self.model_box.findData(name)
        if index < 0:
            self.model_box.addItem(f"{Path(name).name} (file)", name)
            index = self.model_box.count() - 1
        self.model_box.setCurrentIndex(index)

    def _choose_model(self, _index: int = 0) -> None:
        self.load_model(self.model_box.currentData())

    def _choose_device(self, _index: int = 0) -> None:
        self._device = self.device_box.currentText()
        self.load_model(self._model_name)

    def load_model(self, name: str, trust: bool = False) -> None:
        if name != self._model_name and not (name in registry() and registry()[name].family == "imagenet"):
            self._untrained = False  # random weights are a choice for ImageNet families only
        self._model_name = name
        self._thread.worker.submit(LoadRequest(name, self._device, self._untrained, trust))

    def _open_model_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open model", "",
                                              "Models (*.safetensors *.pt *.pth *.bin *.ckpt);;All files (*)")
        if path:
            self.load_model(path)

    def _ask_trust(self, path: str, message: str) -> None:
        answer = QMessageBox.warning(
            self, "This model file contains code",
            f"{message}\n\nOpen it anyway? Only do this if you trust where the file came from.",
            QMessageBox.StandardButton.Open | QMessageBox.StandardButton.Cancel, QMessageBox.StandardButton.Cancel)
        if answer == QMessageBox.StandardButton.Open:
            self.load_model(path, trust=True)
        else:
            self.show_error(message)
            self.busy.hide()

    def _worker_failed(self, message: str) -> None:
        if self._from_settings and self.last_result is None and self._model_name != DEFAULT_MODEL:
            # the remembered model cannot load any more (weights gone, device gone): start on the default
            self._from_settings = False
            self._keep_banner = True
            self.show_error(f"{message} Opened {DEFAULT_MODEL} instead.")
            self.load_model(DEFAULT_MODEL)
            return
        self.show_error(message)

    def _fell_back(self, device: str) -> None:
        self._device = device
        self.device_box.setCurrentText(device)
        self._keep_banner = True

    def _loading(self, name: str) -> None:
        self.busy.show()
        self.status_label.setText(f"loading {Path(name).name}...")

    def _model_loaded(self, model: object, description: str) -> None:
        self.busy.hide()
        if not self._keep_banner:
            self.hide_error()
        self._keep_banner = False
        self._select_model_in_box(self._model_name)
        if self._model_name in registry():
            self.settings.model = self._model_name
            self.settings.untrained = self._untrained
        self.settings.device = self._device
        self._from_settings = False
        notes = spec_of(model).notes
        self.status_label.setText(f"{description} loaded" + (f" | {notes[0]}" if notes else ""))
        if "draw" not in self._inputs:
            self._inputs["draw"] = self.canvas.to_array()
        self._submit(detail=True)  # a new model: every view at once
        gc_guard.settle()

    # ---- results --------------------------------------------------------------------------
    def select_stage(self, name: str) -> None:
        if name != self._selected:
            self._selected = name
            self.maps.enlarged = None
            self._submit(detail=True)

    def _tile_clicked(self, channel: int) -> None:
        if channel >= 0:
            self._channel = channel
        self._submit(detail=True)

    def _in_channel_changed(self, channel: int | None) -> None:
        self._in_channel = channel
        self._submit(detail=True)

    def event(self, event: QEvent) -> bool:
        handled = super().event(event)
        if event.type() == QEvent.Type.UpdateRequest and self._awaiting_paint:
            self._awaiting_paint = False  # the window has painted the last result: the worker may go on
            self._thread.worker.painted()
        return handled

    def _show_result(self, result: FrameResult) -> None:
        self.last_result = result
        self._awaiting_paint = True
        names = {s.name for s in result.stages}
        if self._selected not in names:  # first result, or a model without the chosen stage
            self._selected = result.selected
        # (a result still in flight for an earlier choice is painted, but never overrides the user's choice)
        if result.detail or [s.name for s in result.stages] != self.strip.names:  # never another model's stages
            self.strip.update_stages(result.stages, result.thumbnails, result.selected, result.model_input)
        else:
            self.strip.select(result.selected)
        self.maps.set_mosaic(result.mosaic, result.layout)
        health = result.health
        self.maps.set_health(health.dead if health else (), health.saturated if health else ())
        info = result.info(result.selected)
        shown = f" (first {result.layout.channels} shown)" if result.layout.channels < info.shape[0] else ""
        if health and (health.dead or health.saturated):
            shown += (f" | {len(health.dead)} dead" if health.dead else "") + \
                     (f" | {len(health.saturated)} saturated" if health.saturated else "")
        enlarged = f", channel {self.maps.enlarged} (click to go back)" if self.maps.enlarged is not None else ""
        self.maps_title.setText(f"{result.selected} [{info.kind}] {'x'.join(map(str, info.shape))}{shown}{enlarged}")
        self.input_view.set_image(result.model_input)
        if result.detail:
            self.chain.set_chain(result.chain, result.channel)
            self.filters.set_filters(result.filters_of, result.filters, result.weight_range)
            self._show_steps(result.steps)
        self.softmax.set_top(list(result.top))
        self.lab.set_conv_stages({s.name: s.target for s in result.stages if s.kind == "conv"})
        self.lab.show_changes(result.changes, result.baseline_top, result.top, self._edited)
        if result.top and self._source == "dataset":
            self.dataset_panel.show_prediction(result.top[0][0])
        now = time.perf_counter()
        self._times.append(now)
        while self._times and now - self._times[0] > 2.0:  # the rate over the last two seconds
            self._times.popleft()
        span = self._times[-1] - self._times[0]
        rate = f" | {(len(self._times) - 1) / span:.0f} updates/s" if len(self._times) >= 5 and span >= 0.5 else ""
        note = f" | {result.notes[0]}" if result.notes else ""
        head = f"{result.model_name} on {self.device_box.currentText()}"
        # a few times a second is all anyone reads: a new text re-lays the status bar and the window out
        # (at 180 updates/s that was a tenth of the GUI thread)
        if now - self._status_at >= STATUS_INTERVAL or note or not self.status_label.text().startswith(head):
            self._status_at = now
            self.status_label.setText(f"{head} | forward {result.forward_ms:.1f} ms{rate}{note}")
        self.result_painted.emit(result)

    def _show_steps(self, steps: tuple) -> None:
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

    def _hovered(self, channel: int, y: int, x: int) -> None:
        result = self.last_result
        if result is None:
            return
        height, width = result.model_input.shape[:2]
        field = result.fields.get(result.selected)
        self.input_view.show_field(field.rect(y, x, height, width) if field else (0, 0, height - 1, width - 1))
        conv = result.conv
        if conv is not None:
            arithmetic = conv_arithmetic(conv.inputs, conv.weight, conv.bias, conv.stride, conv.padding,
                                         conv.dilation, conv.groups, channel, y, x)
            self.arithmetic.show_arithmetic(result.selected, arithmetic)
        elif channel < result.values.shape[0]:
            self.arithmetic.show_value(result.selected, channel, y, x, float(result.values[channel, y, x]))

    def _unhovered(self) -> None:
        self.input_view.show_field(None)

    # ---- errors and closing ---------------------------------------------------------------
    def show_error(self, message: str) -> None:
        self.busy.hide()
        self.banner.setText(message)
        self.banner.show()
        self.error_shown.emit(message)

    def hide_error(self) -> None:
        self.banner.hide()

    def closeEvent(self, event) -> None:  # noqa: ANN001
        self.settings.set_geometry(self.saveGeometry())
        self.settings.top_k = self.top_k.value()
        self.shutdown()
        super().closeEvent(event)

    def shutdown(self) -> None:
        if self._shut:
            return
        self._shut = True
        self.classroom.shutdown()
        self.camera_panel.stop()
        self._thread.stop()
        gc_guard.release()
