"""The main window: a shell that lays the panels out (inputs on the left, the views in tabs beside
them), holds the menus the parts add to, the banner for messages and the status line, and tells the
controller when a result has been painted. It owns no state and computes nothing.
"""

from __future__ import annotations

import time
from collections import deque
from pathlib import Path

import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QGuiApplication, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QDialog,
    QDockWidget,
    QLabel,
    QMainWindow,
    QMenu,
    QMessageBox,
    QProgressBar,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from cnnviz.core.choices import VIEWS
from cnnviz.core.engine.frame import FrameResult
from cnnviz.core.models.zoo import ModelSpec
from cnnviz.qt import cadence, gc_guard
from cnnviz.qt.controller import Controller
from cnnviz.qt.images import qimage_to_rgb
from cnnviz.qt.paint_watch import PaintWatch
from cnnviz.qt.settings import Settings
from cnnviz.qt.state import ViewState
from cnnviz.qt.widgets.readout import Readout

pg.setConfigOptions(imageAxisOrder="row-major", antialias=False)


class MainWindow(QMainWindow):
    #: Emitted once the window has painted a frame result (the screenshot and the benchmark wait for it).
    result_painted = Signal(object)
    #: Emitted whenever a message is shown in the banner.
    error_shown = Signal(str)
    closing = Signal()

    def __init__(self, controller: Controller, settings: Settings, left: QWidget) -> None:
        super().__init__()
        gc_guard.acquire()  # garbage collection on this thread only, never on the worker's (see gc_guard)
        self.controller = controller
        self.settings = settings
        self._shut = False
        self._times: deque[float] = deque(maxlen=30)
        self._status_at = 0.0
        self._unpainted: FrameResult | None = None  # a frame result handed to the views, not painted yet
        self._paint_watch = PaintWatch(self, self._painted)  # (not an event() override: see paint_watch)
        self.panels: dict[str, QWidget] = {"window": self}  # what Export can save, by name
        self.setWindowTitle("cnnviz")
        self.resize(1500, 920)
        self.views = QTabWidget()
        self._view_keys: list[str] = []
        self.banner = QLabel("")
        self.banner.setStyleSheet("background:#fde2e1;color:#7a1712;padding:6px;border-radius:3px;")
        self.banner.setWordWrap(True)
        self.banner.hide()
        self.splitter = QSplitter()
        self.splitter.addWidget(left)
        self.splitter.addWidget(self.views)
        self.splitter.setSizes([380, 1120])
        self.splitter.setChildrenCollapsible(False)  # the input panel must never be dragged out of sight
        self.splitter.setStretchFactor(0, 0)
        self.splitter.setStretchFactor(1, 1)
        central = QWidget()
        self.central_layout = QVBoxLayout(central)
        self.central_layout.setContentsMargins(4, 0, 4, 0)
        self.central_layout.addWidget(self.banner)
        self.central_layout.addWidget(self.splitter, 1)
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
        self.file_menu = self.menuBar().addMenu("&File")
        self.help_menu = self.menuBar().addMenu("&Help")
        self.help_menu.addAction("About cnnviz", self.show_about)
        self.views.currentChanged.connect(lambda i: controller.set_view(self._view_keys[i]))
        controller.state_changed.connect(self._state_changed)
        controller.frame_shown.connect(self._frame_shown)
        controller.error.connect(self.show_error)
        controller.cleared.connect(self.hide_error)
        controller.status.connect(self.status_label.setText)
        controller.model_loading.connect(self._loading)
        controller.model_loaded.connect(self._loaded)
        controller.edited_changed.connect(self._edited)
        controller.trust_needed.connect(self._ask_trust)
        geometry = settings.geometry()
        if geometry is not None:
            self.restoreGeometry(geometry)

    # ---- what the parts add -------------------------------------------------------------
    def add_view(self, key: str, widget: QWidget, title: str, tip: str = "") -> None:
        """A view tab, in the order of VIEWS whatever the order the parts register them in."""
        index = sum(1 for k in self._view_keys if VIEWS.index(k) < VIEWS.index(key))
        self._view_keys.insert(index, key)
        self.views.blockSignals(True)
        self.views.insertTab(index, widget, title)
        shown = self.controller.state.view  # (a tab inserted before the current one must not change the tab shown)
        if shown in self._view_keys:
            self.views.setCurrentIndex(self._view_keys.index(shown))
        self.views.blockSignals(False)
        if tip:
            self.views.setTabToolTip(index, tip)

    def add_panel(self, name: str, widget: QWidget) -> None:
        """Name a panel that Export can save, copy or record."""
        self.panels[name] = widget

    def menu(self, title: str) -> QMenu:
        """The menu called ``title`` (created before Help the first time)."""
        for action in self.menuBar().actions():
            if action.text() == title and action.menu() is not None:
                return action.menu()
        menu = QMenu(title, self)
        self.menuBar().insertMenu(self.help_menu.menuAction(), menu)
        return menu

    def file_actions(self, open_image, open_model, paste) -> None:  # noqa: ANN001 - three slots
        self.file_menu.addAction("Open image...", QKeySequence("Ctrl+O"), open_image)
        self.file_menu.addAction("Open model file...", QKeySequence("Ctrl+Shift+O"), open_model)
        self.file_menu.addAction("Paste image", QKeySequence("Ctrl+V"), paste)

    def finish_menus(self) -> None:
        self.file_menu.addSeparator()
        self.file_menu.addAction("Quit", QKeySequence("Ctrl+Q"), self.close)

    def reset_layout(self) -> None:
        """The input panel and the views at their first sizes, both shown (the panels reset their own)."""
        self.splitter.setSizes([380, max(400, self.width() - 380)])
        for index in range(self.splitter.count()):
            self.splitter.widget(index).show()

    def show_view(self, key: str) -> None:
        self.views.setCurrentIndex(self._view_keys.index(key))

    @property
    def view_key(self) -> str:
        return self._view_keys[self.views.currentIndex()]

    # ---- from the controller -------------------------------------------------------------
    def _state_changed(self, state: ViewState, old: ViewState) -> None:
        if state.view != old.view and state.view in self._view_keys and self.view_key != state.view:
            self.show_view(state.view)

    def _loading(self, name: str) -> None:
        self.busy.show()
        self.status_label.setText(f"loading {Path(name).name}...")

    def _loaded(self, _spec: ModelSpec, _description: str) -> None:
        self.busy.hide()
        gc_guard.settle()

    def _edited(self, edited: bool) -> None:
        self.setWindowTitle("cnnviz (model edited: a filter holds your kernel)" if edited else "cnnviz")

    def _ask_trust(self, path: str, message: str) -> None:
        answer = QMessageBox.warning(
            self, "This model file contains code",
            f"{message}\n\nOpen it anyway? Only do this if you trust where the file came from.",
            QMessageBox.StandardButton.Open | QMessageBox.StandardButton.Cancel, QMessageBox.StandardButton.Cancel)
        if answer == QMessageBox.StandardButton.Open:
            self.controller.load_model(path, trust=True)
        else:
            self.show_error(message)

    def _frame_shown(self, result: FrameResult) -> None:
        self._unpainted = result
        self._paint_watch.arm()
        now = time.perf_counter()
        self._times.append(now)
        while self._times and now - self._times[0] > 2.0:  # the rate over the last two seconds
            self._times.popleft()
        span = self._times[-1] - self._times[0]
        rate = f" | {(len(self._times) - 1) / span:.0f} updates/s" if len(self._times) >= 5 and span >= 0.5 else ""
        note = f" | {result.notes[0]}" if result.notes else ""
        head = f"{result.model_name} on {self.controller.state.device}"
        # a few times a second is all anyone reads: a new text re-lays the status bar and the window out
        if now - self._status_at >= cadence.STATUS_INTERVAL or note or not self.status_label.text().startswith(head):
            self._status_at = now
            self.status_label.setText(f"{head} | forward {result.forward_ms:.1f} ms{rate}{note}")

    def _painted(self) -> None:
        if self._unpainted is not None:
            result, self._unpainted = self._unpainted, None  # the window has painted the last result
            self.controller.painted()
            self.result_painted.emit(result)

    # ---- messages -------------------------------------------------------------------------
    def show_error(self, message: str) -> None:
        self.busy.hide()
        self.banner.setText(message)
        self.banner.show()
        self.error_shown.emit(message)

    def hide_error(self) -> None:
        self.banner.hide()

    def about_text(self) -> str:
        from cnnviz.core.about import version_lines

        lines = version_lines(self.controller.device_in_use or self.controller.state.device)
        return ("<b>cnnviz</b>: see inside a convolutional network while it works.<br><br>"
                + "<br>".join(lines[:3]) + f"<br>model: {self.controller.state.model}<br>{lines[3]}")

    def show_about(self) -> None:
        QMessageBox.about(self, "About cnnviz", self.about_text())

    # ---- images from outside --------------------------------------------------------------
    def paste(self) -> bool:
        image = QGuiApplication.clipboard().image()
        if image.isNull():
            self.show_error("The clipboard holds no image; copy one first.")
            return False
        self.controller.use_image(qimage_to_rgb(image), "pasted from the clipboard.")
        return True

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if event.mimeData().hasUrls() or event.mimeData().hasImage():
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        urls = [u for u in event.mimeData().urls() if u.isLocalFile()]
        if urls:
            self.controller.open_image(urls[0].toLocalFile())

    # ---- closing --------------------------------------------------------------------------
    def closeEvent(self, event) -> None:  # noqa: ANN001
        self.settings.set_geometry(self.saveGeometry())
        self.shutdown()
        super().closeEvent(event)

    def shutdown(self) -> None:
        if self._shut:
            return
        self._shut = True
        popup = QApplication.activePopupWidget()
        while popup is not None and popup.isVisible():  # an open menu of this window goes with it
            popup.close()
            popup = QApplication.activePopupWidget()
        self.closing.emit()  # the parts stop what they run (recording, training, the camera)
        for dock in self.findChildren(QDockWidget):  # a floating dock is a window of its own: it goes too
            if dock.isFloating():
                dock.hide()
        for dialog in self.findChildren(QDialog):  # and so does a form left open (Open model...)
            if dialog.isVisible():
                dialog.reject()
        self.controller.shutdown()
        gc_guard.release()


__all__ = ["MainWindow", "Qt"]
