"""The classroom layer of the main window: presenter mode, freeze and snapshots, the guided tour,
explanations and occlusion, A/B compare, panel export and recording, session files, and the
Train panel.

It adds tabs, menus and shortcuts to an existing MainWindow and listens to its painted
results; every computation goes to the window's one worker as a JobRequest (a newer job of
the same kind replaces a waiting one: latest wins).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtGui import QActionGroup, QGuiApplication, QKeySequence, QShortcut
from PySide6.QtWidgets import QFileDialog, QLabel, QWidget

from cnnviz.core.engine.frame import FrameResult
from cnnviz.core.errors import CnnvizError
from cnnviz.core.models.zoo import spec_of
from cnnviz.core.teach.compare import compare
from cnnviz.core.teach.explain import explain
from cnnviz.core.teach.session import SUFFIX, Session, load_session, save_session
from cnnviz.core.teach.tour import TourStep, tour
from cnnviz.qt.presenter import Presenter
from cnnviz.qt.recorder import WidgetRecorder
from cnnviz.qt.settings import MAGNITUDE_MAPS
from cnnviz.qt.train_panel import TrainPanel
from cnnviz.qt.views.compare_view import CompareView
from cnnviz.qt.views.explain_view import ExplainPanel
from cnnviz.qt.views.snapshot_view import SnapshotDock
from cnnviz.qt.views.tour_view import TourBar
from cnnviz.qt.worker import JobRequest

if TYPE_CHECKING:
    from cnnviz.qt.main_window import MainWindow

#: Explanations and comparisons follow the input at most this often (seconds).
FOLLOW_INTERVAL = 0.1
VIEW_TABS = ("network", "lab", "explain", "compare", "train")


class Classroom(QObject):
    session_saved = Signal(str)  # the path a session was written to

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.w = window
        self.worker = window._thread.worker
        self.pinned: np.ndarray | None = None
        self._busy: set[str] = set()  # job kinds in flight (one at a time each, latest input wins)
        self._again: set[str] = set()
        self._last: dict[str, float] = {}
        self.session_opened = False
        self._session_pending = False
        self._session_load = False  # the session's model is still loading
        self._later = QTimer(self)  # one pending "follow" at most, however many results arrive
        self._later.setSingleShot(True)
        self._later.timeout.connect(self.follow)

        self.explain = ExplainPanel()
        self.compare = CompareView()
        self.train = TrainPanel(lambda: window._device)
        window.views.addTab(self.explain, "Explain")
        window.views.setTabToolTip(2, "Grad-CAM, HiResCAM and saliency over the input; occlusion.")
        window.views.addTab(self.compare, "Compare")
        window.views.setTabToolTip(3, "Two inputs, or trained vs edited model, side by side per stage.")
        window.views.addTab(self.train, "Train")
        window.views.setTabToolTip(4, "Train a network here and watch its curves and first filters.")
        window.views.currentChanged.connect(lambda _i: self.follow())
        self.tour = TourBar()
        window.centralWidget().layout().insertWidget(1, self.tour)
        self.snapshots = SnapshotDock(window)
        window.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.snapshots)
        self.snapshots.hide()
        self.presenter = Presenter(window, [window, window.input_view, window.maps, window.softmax, window.strip],
                                   window.settings.presenter_scale)
        self.recorder = WidgetRecorder()
        self.rec_label = QLabel("")
        self.rec_label.setStyleSheet("color:white;background:#c62828;font-weight:bold;padding:1px 6px;"
                                     "border-radius:3px;")
        self.rec_label.hide()
        window.statusBar().addPermanentWidget(self.rec_label)
        self.recorder.ticked.connect(self._recording_tick)
        self.recorder.finished.connect(self._recording_done)
        self.recorder.failed.connect(window.show_error)

        window.result_painted.connect(self.on_result)
        window.result_painted.connect(lambda _r: self.follow())
        self.worker.model_loaded.connect(self.on_model)  # bound methods: queued to the GUI thread
        self.worker.job_done.connect(self._job_done)
        self.worker.failed.connect(self._job_failed)
        self.explain.options_changed.connect(lambda: self.follow(force=True))
        self.explain.occlusion_toggled.connect(
            lambda on: window.input_view.set_occlusion(on, self.explain.patch.value()))
        self.explain.occlusion_size_changed.connect(
            lambda size: window.input_view.set_occlusion(window.input_view.occlusion is not None, size))
        window.input_view.occlusion_changed.connect(window.set_occlusion)
        self.compare.pin_requested.connect(self.pin_input)
        self.compare.mode_changed.connect(lambda _m: self.follow(force=True))
        self.tour.step_shown.connect(self._tour_step)
        self.train.open_model.connect(window.load_model)
        self._menus()
        self._shortcuts()

    # ---- menus and keys -------------------------------------------------------------------
    def _menus(self) -> None:
        w = self.w
        file_menu = w.file_menu
        file_menu.insertSeparator(file_menu.actions()[-1])
        before = file_menu.actions()[-1]
        session_save = file_menu.addAction("Save session...", QKeySequence("Ctrl+S"), self._save_session_dialog)
        session_open = file_menu.addAction("Open session...", QKeySequence("Ctrl+Shift+S"), self._open_session_dialog)
        export = w.menuBar().addMenu("E&xport")
        w.menuBar().insertMenu(w.help_menu.menuAction(), export)
        for name in self.panels():
            export.addAction(f"Save {name} as PNG...", lambda n=name: self._save_panel_dialog(n))
        export.addSeparator()
        copy = export.addMenu("Copy to clipboard")
        for name in self.panels():
            copy.addAction(name, lambda n=name: self.copy_panel(n))
        export.addSeparator()
        self.record_action = export.addAction("Record window...", QKeySequence("Ctrl+R"), self._record_toggle)
        record_panel = export.addMenu("Record panel")
        for name in self.panels():
            record_panel.addAction(name, lambda n=name: self._record_dialog(n))
        for action in (session_save, session_open):
            file_menu.removeAction(action)
            file_menu.insertAction(before, action)

        view = w.menuBar().addMenu("&View")
        w.menuBar().insertMenu(w.help_menu.menuAction(), view)
        self.presenter_action = view.addAction("Presenter mode", QKeySequence("F11"), self.toggle_presenter)
        self.presenter_action.setCheckable(True)
        self.freeze_action = view.addAction("Freeze", QKeySequence("F"), self.toggle_freeze)
        self.freeze_action.setCheckable(True)
        view.addAction("Snapshot", QKeySequence("S"), self.snapshot)
        view.addAction("Guided tour", QKeySequence("T"), self.toggle_tour)
        maps = view.addMenu("Colour map for magnitudes")
        group = QActionGroup(self)
        for name in MAGNITUDE_MAPS:
            action = maps.addAction(name, lambda n=name: self.set_magnitude_map(n))
            action.setCheckable(True)
            action.setChecked(name == w.settings.magnitude_map)
            group.addAction(action)
        self.map_actions = group
        w.help_menu.addAction("Keys...", self._show_keys)

    def _shortcuts(self) -> None:
        w = self.w
        for key, slot in (("PgDown", self.tour.next), (".", self.tour.next), ("PgUp", self.tour.previous),
                          (",", self.tour.previous), ("Escape", self._escape), ("P", self.pin_input)):
            QShortcut(QKeySequence(key), w, slot)

    def _show_keys(self) -> None:
        from PySide6.QtWidgets import QMessageBox

        QMessageBox.information(self.w, "Keys", (
            "F11  presenter mode (Esc leaves)\nF  freeze / go live\nS  snapshot beside the live view\n"
            "T  guided tour; Page Down / . next, Page Up / , previous\nP  pin the input as A (Compare)\n"
            "Ctrl+R  record the window\nCtrl+S  save session, Ctrl+Shift+S open one\n"
            "Ctrl+1..4  input tabs; Left / Right / R  dataset samples\nDelete, Ctrl+Z, E, [ ]  drawing"))

    def _escape(self) -> None:
        if self.presenter.active:
            self.toggle_presenter()
        elif self.tour.active:
            self.tour.stop()

    # ---- presenter, freeze, snapshot ------------------------------------------------------
    def toggle_presenter(self) -> None:
        on = self.presenter.toggle()
        self.presenter_action.setChecked(on)

    def toggle_freeze(self) -> None:
        self.w.set_frozen(not self.w.frozen)
        self.freeze_action.setChecked(self.w.frozen)

    def set_magnitude_map(self, name: str) -> None:
        self.w.settings.magnitude_map = name
        self.w.magnitude_map = self.w.settings.magnitude_map
        for action in self.map_actions.actions():
            action.setChecked(action.text() == name)
        self.w._submit(detail=True)

    def snapshot(self) -> None:
        result = self.w.last_result
        if result is None:
            return
        top = f"'{result.top[0][0]}' {result.top[0][1] * 100:.1f} %" if result.top else "-"
        caption = f"{result.model_name}, {result.selected}: predicts {top}\n{time.strftime('%H:%M:%S')}"
        self.snapshots.add(self.w.splitter.grab(), caption)

    # ---- follow the input: explanation and comparison -------------------------------------
    def follow(self, force: bool = False) -> None:
        """After a painted result: refresh the explanation or comparison on screen, at most every
        FOLLOW_INTERVAL seconds and one job at a time (the latest input wins)."""
        current = self.w.views.currentWidget()
        kind = "explain" if current is self.explain else "compare" if current is self.compare else None
        if kind is None or self.w.frozen:
            return
        now = time.perf_counter()
        if kind in self._busy:
            self._again.add(kind)
            return
        wait = FOLLOW_INTERVAL - (now - self._last.get(kind, 0.0))
        if not force and wait > 0:
            if not self._later.isActive():
                self._later.start(int(wait * 1000) + 1)
            return
        rgb = self.w.current_input()
        if rgb is None:
            return
        self._last[kind] = now
        if kind == "explain":
            self._request_explain(rgb)
        else:
            self._request_compare(rgb)

    def _submit(self, kind: str, fn) -> None:  # noqa: ANN001
        self._busy.add(kind)
        self.worker.submit(JobRequest(kind, fn))

    def _request_explain(self, rgb: np.ndarray) -> None:
        method, target, stage = self.explain.method_name, self.explain.target_index, self.explain.layer_name
        cmap = "magma"
        self._submit("explain", lambda model: explain(model, rgb, method, target, stage, cmap))

    def _request_compare(self, rgb: np.ndarray) -> None:
        mode = self.compare.mode_name
        if mode == "inputs" and self.pinned is None:
            self.compare.title.setText("Pin an input as A first (button above, or P); then change the input.")
            return
        a, b = (self.pinned, rgb) if mode == "inputs" else (rgb, None)
        stage, cmap, surgeon = self.w._selected, self.w.magnitude_map, self.worker.surgeon
        self._submit("compare", lambda model: compare(model, a, b, stage, surgeon if b is None else None, cmap))

    def pin_input(self) -> None:
        rgb = self.w.current_input()
        if rgb is None:
            return
        self.pinned = rgb.copy()
        self.compare.set_mode("inputs")
        self.w.status_label.setText("Input pinned as A; change the input to compare (Compare tab).")
        self.follow(force=True)

    def _job_done(self, tag: str, result: object) -> None:
        if tag in ("explain", "compare"):
            self._busy.discard(tag)
            if tag == "explain":
                self.explain.show_explanation(result)
            else:
                self.compare.show_result(result)
            if tag in self._again:
                self._again.discard(tag)
                self.follow(force=True)
        elif tag == "tour":
            stages = [step.stage for step in result]
            start = getattr(self, "_tour_start", None)
            self.tour.start(result, stages.index(start) if start in stages else 0)
            self.w.views.setCurrentIndex(0)
        elif tag == "session":
            self.apply_session(result)
        elif tag.startswith("session-save:"):
            self.w.status_label.setText(f"session saved to {result}")
            self.session_saved.emit(str(result))

    def on_result(self, result: FrameResult) -> None:
        """Keep the explain panel's layer list in step with the model on screen."""
        if self._session_pending and not self._session_load:
            self._session_pending, self.session_opened = False, True
        spatial = tuple(s.name for s in result.stages if len(s.shape) == 3 and s.shape[1] * s.shape[2] > 1)
        self.explain.set_layers(spatial)

    def _job_failed(self, _message: str) -> None:
        self._busy.clear()
        self._session_load = False

    def on_model(self, model: object, _description: str = "") -> None:
        self._session_load = False
        if self.tour.active:  # the steps described the previous model
            self.tour.stop()
        self.explain.set_classes(tuple(spec_of(model).class_names))

    # ---- tour -----------------------------------------------------------------------------
    def toggle_tour(self, start_at: str | None = None) -> None:
        """Start the tour (at the stage ``start_at``, if given) or end it."""
        if self.tour.active:
            self.tour.stop()
            return
        self._tour_start = start_at
        self.w.status_label.setText("preparing the tour...")

        def steps(model) -> list[TourStep]:  # noqa: ANN001 - runs on the worker
            spec = spec_of(model)
            return tour(model, spec.input_shape, len(spec.class_names))

        self.worker.submit(JobRequest("tour", steps))

    def _tour_step(self, step: TourStep) -> None:
        self.w.views.setCurrentIndex(0)
        if step.stage in self.w.strip.names:
            self.w.select_stage(step.stage)

    # ---- panels: PNG, clipboard, recording ------------------------------------------------
    def panels(self) -> dict[str, QWidget]:
        w = self.w
        return {"window": w, "feature maps": w.maps, "input": w.input_view, "prediction": w.softmax,
                "network strip": w.strip, "filters": w.filters, "explanation": self.explain,
                "comparison": self.compare, "kernel lab": w.lab, "training": self.train}

    def save_panel(self, name: str, path: str | Path) -> Path:
        path = Path(path)
        if path.suffix.lower() != ".png":
            path = path.with_name(path.name + ".png")
        if not self.panels()[name].grab().save(str(path), "PNG"):
            raise CnnvizError(f"Could not write {path}; check the folder exists and is writable.")
        return path

    def _save_panel_dialog(self, name: str) -> None:
        path, _ = QFileDialog.getSaveFileName(self.w, f"Save {name}", f"cnnviz-{name.replace(' ', '-')}.png",
                                              "PNG images (*.png)")
        if path:
            try:
                saved = self.save_panel(name, path)
                self.w.status_label.setText(f"saved {saved}")
            except CnnvizError as exc:
                self.w.show_error(str(exc))

    def copy_panel(self, name: str) -> None:
        QGuiApplication.clipboard().setPixmap(self.panels()[name].grab())
        self.w.status_label.setText(f"{name} copied to the clipboard.")

    def start_recording(self, name: str, path: str | Path) -> None:
        try:
            self.recorder.start(self.panels()[name], path)
        except CnnvizError as exc:
            self.w.show_error(str(exc))
            return
        self.record_action.setText("Stop recording")
        self.rec_label.show()

    def stop_recording(self) -> None:
        self.recorder.stop()
        self.record_action.setText("Record window...")
        self.rec_label.setText("saving...")

    def _record_toggle(self) -> None:
        if self.recorder.active:
            self.stop_recording()
        else:
            self._record_dialog("window")

    def _record_dialog(self, name: str) -> None:
        if self.recorder.active:
            self.stop_recording()
            return
        path, _ = QFileDialog.getSaveFileName(self.w, f"Record {name}", f"cnnviz-{name.replace(' ', '-')}.gif",
                                              "Animated GIF (*.gif);;MP4 video (*.mp4)")
        if path:
            if Path(path).suffix.lower() not in (".gif", ".mp4"):
                path += ".gif"
            self.start_recording(name, path)

    def _recording_tick(self, seconds: float) -> None:
        self.rec_label.setText(f"\u25cf REC {int(seconds) // 60}:{int(seconds) % 60:02d}")
        self.w.setWindowTitle("\u25cf REC - cnnviz")

    def _recording_done(self, path: str, frames: int) -> None:
        self.rec_label.hide()
        self.w.setWindowTitle("cnnviz")
        self.w.status_label.setText(f"recorded {frames} frames to {path}")

    # ---- sessions -------------------------------------------------------------------------
    def session(self) -> Session:
        w = self.w
        lab = w.lab
        view = {"per_channel": w.per_channel.isChecked(), "top_k": w.top_k.value(),
                "magnitude_map": w.magnitude_map, "explain_method": self.explain.method_name,
                "tab": VIEW_TABS[w.views.currentIndex()], "padding": lab.padding.currentText(),
                "stride": lab.stride.value(), "pool": lab.pool.value(), "pool_kind": lab.pool_kind.currentText(),
                "presenter": self.presenter.active}
        return Session(w._model_name, w._device, w._untrained, w._source, w.current_input(), w._selected,
                       w._channel, list(lab.bank), view)

    def save_session(self, path: str | Path) -> None:
        """Gather the state here, encode and write it on the worker (a photo's PNG takes a while)."""
        session = self.session()
        self.w.status_label.setText("saving the session...")
        self.worker.submit(JobRequest(f"session-save:{path}", lambda _model: save_session(path, session)))

    def open_session(self, path: str | Path) -> None:
        """Read on the worker (a session may hold a large image); applied when it arrives."""
        self.w.status_label.setText(f"opening {Path(path).name}...")
        self.worker.submit(JobRequest("session", lambda _model: load_session(path)))

    def _save_session_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self.w, "Save session", f"lesson{SUFFIX}",
                                              f"cnnviz sessions (*{SUFFIX})")
        if path:
            self.save_session(path)  # a failure reaches the banner through the worker

    def _open_session_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self.w, "Open session", "", f"cnnviz sessions (*{SUFFIX})")
        if path:
            self.open_session(path)

    def apply_session(self, session: Session) -> None:
        w = self.w
        view = session.view
        w.per_channel.setChecked(bool(view.get("per_channel", True)))
        w.top_k.setValue(int(view.get("top_k", w.top_k.value())))
        if view.get("magnitude_map") in MAGNITUDE_MAPS:
            self.set_magnitude_map(str(view["magnitude_map"]))
        if isinstance(view.get("explain_method"), str):
            self.explain.set_method(str(view["explain_method"]))
        lab = w.lab
        if session.kernels:
            lab.set_bank(session.kernels)
        for key, box in (("padding", lab.padding), ("pool_kind", lab.pool_kind)):
            if isinstance(view.get(key), str) and box.findText(str(view[key])) >= 0:
                box.setCurrentText(str(view[key]))
        for key, box in (("stride", lab.stride), ("pool", lab.pool)):
            if isinstance(view.get(key), int):
                box.setValue(int(view[key]))
        w._selected = session.stage
        w._channel = max(0, session.channel)
        if session.input is not None:
            if session.source == "draw" and session.input.ndim == 2:
                w.tabs.setCurrentIndex(0)
                w.canvas.set_array(session.input)
            else:
                rgb = session.input if session.input.ndim == 3 else np.repeat(session.input[..., None], 3, 2)
                w._use_image(rgb, "")
        if session.model != w._model_name or session.device != w._device or session.untrained != w._untrained:
            w._device = session.device
            if w.device_box.findText(session.device) >= 0:
                w.device_box.setCurrentText(session.device)
            w._untrained = session.untrained
            self._session_load = True
            w.load_model(session.model)
        else:
            w._submit(detail=True)
        tab = view.get("tab")
        if tab in VIEW_TABS:
            w.views.setCurrentIndex(VIEW_TABS.index(tab))
        if bool(view.get("presenter", False)) != self.presenter.active:
            self.toggle_presenter()
        w.status_label.setText("session opened.")
        self._session_pending = True  # "opened" once its first result is painted

    def shutdown(self) -> None:
        if self.recorder.active:
            self.recorder.stop()
        self.train.shutdown()
