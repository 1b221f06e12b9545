"""``cnnviz bench --scenario soak``: memory under a long mixed load.

It times nothing: it drives drawing, stage, view, input tab and model changes at random (seeded) for as
long as asked and reports the process's resident memory after a warm-up pass, once warm (after the first
minute) and at the end, each read at the same point of the cycle (the first model just loaded, the
network view on screen).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

import numpy as np
from PySide6.QtCore import QEvent, QEventLoop, QPointF, Qt, QTimer
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication

from cnnviz.core.bench_stats import SoakStats
from cnnviz.core.choices import INPUT_SOURCES, VIEWS
from cnnviz.qt.app import App
from cnnviz.qt.bench import bench_window

SOAK_MODELS = ("lenet5-mnist", "mnist-cnn-mnist")  # both shipped: no downloads
SOAK_SWITCH_S = 4.0  # a model switch this often
SOAK_ACTION_S = (0.2, 0.8)  # a stage, view or input tab change after a random pause in this range (seconds)
SOAK_WARM_S = 60.0  # memory once warm is read after this much mixed use (or a fifth of the run if shorter)


def resident_mb() -> float:
    """This process's resident memory in MiB: VmRSS from /proc (Linux), else psutil where it happens to be
    installed, else the peak that getrusage reports (the best a bare macOS offers)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    try:
        import psutil  # type: ignore[import-not-found]  # (not a dependency: used only where present)

        return psutil.Process().memory_info().rss / 2**20
    except ImportError:
        pass
    try:
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak / 2**20 if sys.platform == "darwin" else peak / 1024
    except ImportError:
        return float("nan")


class SoakDriver:
    """Drives drawing, stage changes, view and input tab changes and model switches at random (seeded)
    for ``seconds`` after a warm-up pass over every view, input tab and both models, and samples the
    process's resident memory."""

    def __init__(self, app: App, seconds: float, seed: int = 0) -> None:
        self.app = app
        self.controller = app.controller
        self.seconds = seconds
        self.rng = np.random.default_rng(seed)
        self.photo = (self.rng.random((224, 224, 3)) * 255).astype(np.uint8)
        self.step = 0
        self.shown = 0  # frame results shown (all of them; the report counts those after the warm-up)
        self.switches = 0
        self.loads = 0  # models loaded (the warm-up's too)
        self.samples: list[float] = []
        self.controller.frame_shown.connect(self._shown)
        self.controller.model_loaded.connect(self._loaded)

    def _shown(self, _result: object) -> None:
        self.shown += 1

    def _loaded(self, _spec: object, _description: str) -> None:
        self.loads += 1

    # what a user does ---------------------------------------------------------------------------------
    def _pen(self) -> None:
        """One pen move on the canvas (a new stroke every 200 moves, the canvas cleared every 1000)."""
        canvas = self.app.inputs.canvas
        t = self.step / 25.0 + self.step // 200
        point = QPointF(140 + 100 * np.cos(t) * np.sin(1.3 * t), 140 + 100 * np.sin(2.1 * t))
        press = self.step % 200 == 0
        if self.step % 1000 == 0 and self.step:
            canvas.clear()
        kind = QEvent.Type.MouseButtonPress if press else QEvent.Type.MouseMove
        QApplication.sendEvent(canvas, QMouseEvent(kind, point, point, Qt.MouseButton.LeftButton,
                                                   Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier))
        self.step += 1

    def _camera(self) -> None:
        frame = np.roll(self.photo, self.step % 224, axis=1)
        frame[(self.step * 7) % 224] = 255
        self.controller.set_input("camera", frame)

    def _stage(self) -> None:
        frame = self.controller.last_frame
        if frame is not None and frame.stages:
            self.controller.select_stage(frame.stages[int(self.rng.integers(len(frame.stages)))].name)

    def _view(self) -> None:
        self.app.window.show_view(VIEWS[int(self.rng.integers(len(VIEWS)))])

    def _tab(self) -> None:
        self.app.inputs.tabs.setCurrentIndex(int(self.rng.integers(len(INPUT_SOURCES))))

    def _switch(self) -> None:
        spec = self.controller.spec
        current = spec.name if spec is not None else SOAK_MODELS[0]
        self.controller.load_model(SOAK_MODELS[(SOAK_MODELS.index(current) + 1) % 2]
                                   if current in SOAK_MODELS else SOAK_MODELS[0])
        self.switches += 1

    def _input(self) -> None:
        """What the input tab on screen takes: pen moves, camera frames, the next dataset sample now and then."""
        source = self.controller.state.source
        if source == "camera":
            self._camera()
        elif source == "dataset" and self.step % 40 == 0:
            self.app.inputs.dataset_panel.next()
        self._pen()  # (the canvas takes the pen whichever tab is shown, as it keeps its drawing)

    # plumbing -------------------------------------------------------------------------------------------
    def _settle(self, qt_app: QApplication, done: Callable[[], bool], timeout: float = 60.0) -> None:
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline and not (done() and self.controller.is_idle()):
            qt_app.processEvents()
            time.sleep(0.002)

    def _load(self, qt_app: QApplication, model: str) -> None:
        """Load ``model`` and wait for its first frame on screen."""
        loads = self.loads
        self.controller.load_model(model)
        self._settle(qt_app, lambda: self.loads > loads)
        shown = self.shown
        self._settle(qt_app, lambda: self.shown > shown)

    def _rest(self, qt_app: QApplication) -> None:
        """Where the warm-up ends and the end is read, so the two readings compare: the first model just
        loaded (a load hands the previous model's memory back, see gc_guard.settle), the network view and
        the draw tab on screen, and nothing in flight."""
        self._load(qt_app, SOAK_MODELS[0])
        self.app.window.show_view(VIEWS[0])
        self.app.inputs.tabs.setCurrentIndex(0)
        self._settle(qt_app, lambda: True)

    def warm_up(self, qt_app: QApplication) -> None:
        """The first pass over both models, every view and every input tab, and each stage once."""
        controller = self.controller
        controller.set_input("image", self.photo)
        for model in (*SOAK_MODELS[1:], SOAK_MODELS[0]):
            self._load(qt_app, model)
            for view in VIEWS:
                self.app.window.show_view(view)
                for index in range(len(INPUT_SOURCES)):
                    self.app.inputs.tabs.setCurrentIndex(index)
                    shown = self.shown
                    for _ in range(5):
                        self._input()
                        qt_app.processEvents()
                    self._settle(qt_app, lambda s=shown: self.shown > s, timeout=10)
            last = controller.last_frame
            for info in last.stages if last is not None else ():
                controller.select_stage(info.name)
                self._settle(qt_app, lambda: True)
        self._rest(qt_app)

    def run(self, qt_app: QApplication) -> SoakStats:
        """The warm-up pass, then ``seconds`` of mixed use: resident memory is read after the pass, once
        warm (after the first SOAK_WARM_S, or fifth of the run if shorter: bounded caches such as the undo
        stack fill then) and at the end, each time at rest (see ``_rest``), and sampled every second."""
        self.warm_up(qt_app)
        start_mb = resident_mb()
        self.samples = [start_mb]
        shown_before, switches_before = self.shown, self.switches
        warm_s = min(SOAK_WARM_S, self.seconds / 5)
        elapsed = self._mix(qt_app, warm_s)
        self._rest(qt_app)
        warm_mb = resident_mb()
        elapsed += self._mix(qt_app, self.seconds - warm_s)
        updates = self.shown - shown_before
        self._rest(qt_app)
        end_mb = resident_mb()
        self.samples += [warm_mb, end_mb]
        return SoakStats(elapsed, start_mb, warm_mb, end_mb, max(self.samples), updates,
                         self.switches - switches_before, self.controller.device_in_use)

    def _mix(self, qt_app: QApplication, seconds: float) -> float:
        """Pen moves (or camera frames, or dataset samples) about 100 times a second; a stage, view or input
        tab change every SOAK_ACTION_S; a model switch every SOAK_SWITCH_S; a memory sample every second."""
        started = time.perf_counter()
        due = {"action": started + self._pause(), "switch": started + SOAK_SWITCH_S, "sample": started + 1.0}
        loop = QEventLoop()

        def tick() -> None:
            now = time.perf_counter()
            if now - started >= seconds:
                timer.stop()
                loop.quit()
                return
            self._input()
            if now >= due["action"]:
                due["action"] = now + self._pause()
                (self._stage, self._stage, self._view, self._tab)[int(self.rng.integers(4))]()
            if now >= due["switch"]:
                due["switch"] = now + SOAK_SWITCH_S
                self._switch()
            if now >= due["sample"]:
                due["sample"] = now + 1.0
                self.samples.append(resident_mb())

        timer = QTimer()
        timer.setTimerType(Qt.TimerType.PreciseTimer)
        timer.timeout.connect(tick)
        timer.start(10)
        loop.exec()
        return time.perf_counter() - started

    def _pause(self) -> float:
        return float(self.rng.uniform(*SOAK_ACTION_S))


def run_soak(device: str, seconds: float, seed: int = 0) -> SoakStats:
    """``cnnviz bench --scenario soak``: resident memory after the warm-up and after ``seconds`` of mixed use."""
    with bench_window(SOAK_MODELS[0], device) as built:
        return SoakDriver(built, seconds, seed).run(QApplication.instance())


