"""``cnnviz bench``: drive the real main window headless and time what a user feels.

Synthetic input arrives at a fixed rate from a QTimer; each input is stamped when it is made,
and its latency is read once the views showing its result have painted: a zero-delay timer,
started when the result reaches the views, first has Qt paint what is still dirty (the
window's posted update request; plain widgets such as the kernel lab's pictures and the
softmax bars wait for it, and it can come after a zero timer) and then reads the clock.
Inputs that arrive while the worker is busy replace each other (latest wins) and count as
dropped.

The soak scenario (cnnviz.qt.soak) times nothing: it reports memory under a long mixed load.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch
from PySide6.QtCore import QEvent, QEventLoop, QPointF, Qt, QTimer
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication

from cnnviz.core.bench_stats import ScenarioStats, summarise
from cnnviz.core.lab.kernels import Kernel
from cnnviz.qt.app import App, quiet_offscreen
from cnnviz.qt.worker import Job, Loaded


@dataclass(frozen=True)
class Scenario:
    name: str
    model: str
    rate_hz: float
    untrained: bool = False


SCENARIOS = {
    "draw-lenet": Scenario("draw-lenet", "lenet5-mnist", 200.0),
    "image-resnet18": Scenario("image-resnet18", "resnet18", 60.0, untrained=True),
    "image-vgg16": Scenario("image-vgg16", "vgg16", 30.0, untrained=True),
    "kernel-lab": Scenario("kernel-lab", "lenet5-mnist", 60.0),
}


def bare_forward_ms(model: torch.nn.Module, repeats: int = 20) -> float:
    spec = model.cnnviz_spec
    device = next(model.parameters()).device
    x = torch.rand(1, *spec.input_shape, device=device)
    times = []
    with torch.no_grad():
        for i in range(repeats + 3):
            start = time.perf_counter()
            model(x)
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            if i >= 3:
                times.append(time.perf_counter() - start)
    return float(np.median(times) * 1000)


class Driver:
    """Runs one scenario on one window and collects latencies."""

    def __init__(self, app: App, scenario: Scenario, seconds: float) -> None:
        self.app = app
        self.window = app.window
        self.scenario = scenario
        self.seconds = seconds
        self.latencies: list[float] = []
        self.inputs = 0
        self.step = 0
        self.slot = 0  # the next clock slot due an input
        self.ended = 0.0
        self.seen: set[float] = set()  # stamps of inputs already painted
        self.started = 0.0
        self.finished = False
        self.rng = np.random.default_rng(0)
        self.photo = (self.rng.random((224, 224, 3)) * 255).astype(np.uint8)
        self.lab_photo = (self.rng.random((512, 512, 3)) * 255).astype(np.uint8)

    # input generators -------------------------------------------------------------------------
    def _pen(self) -> None:
        canvas = self.app.inputs.canvas
        t = self.step / 40.0
        point = QPointF(140 + 90 * np.cos(t) * np.sin(2.3 * t), 140 + 90 * np.sin(1.7 * t))
        kind = QEvent.Type.MouseButtonPress if self.step % 400 == 0 else QEvent.Type.MouseMove
        if self.step % 400 == 0 and self.step:
            canvas.clear()
        event = QMouseEvent(kind, point, point, Qt.MouseButton.LeftButton, Qt.MouseButton.LeftButton,
                            Qt.KeyboardModifier.NoModifier)
        QApplication.sendEvent(canvas, event)

    def _frame(self) -> None:
        frame = self.photo.copy()
        frame[(self.step * 7) % 224, :, :] = 255  # the pixels change every frame, as a camera's do
        frame = np.roll(frame, self.step % 224, axis=1)
        self.app.controller.set_input("camera", frame)

    def _edit(self) -> None:
        grid = self.app.lab.grid
        grid.set_cell_text(self.step % 3, (self.step // 3) % 3, f"{np.sin(self.step / 5):.3f}")

    # plumbing -------------------------------------------------------------------------------------
    def _painted(self, stamp: float) -> None:
        """Called when a result has been handed to the views; the time is read once they have painted."""
        if not self.started or self.finished or stamp < self.started or stamp in self.seen:
            return  # (a warm-up input painted late, or a second picture of one input: the views catching up)
        self.seen.add(stamp)
        QTimer.singleShot(0, lambda: self.latencies.append(self._after_paint() - stamp))

    def _after_paint(self) -> float:
        """The clock once the window has painted what is dirty. Qt posts a window's update request
        at low priority, and a zero timer can fire before it (the kernel lab's results were timed
        before their pictures were painted); painting it here is what the event loop does next anyway."""
        QApplication.sendPostedEvents(self.window, QEvent.Type.UpdateRequest)
        return time.perf_counter()

    def run(self, app: QApplication) -> ScenarioStats:
        controller, lab = self.app.controller, self.app.lab
        name = self.scenario.name
        generate: Callable[[], None]
        if name == "kernel-lab":
            self.window.show_view("lab")
            controller.set_input("image", self.lab_photo, select=True)
            lab.load_edge_bank()  # a bank of four kernels; the first becomes the 3x3 being edited
            lab.set_current(Kernel("edited", np.zeros((3, 3), np.float32)))
            generate = self._edit
            controller.lab_ready.connect(lambda r: self._painted(r.stamp))  # (after the lab panel drew it)
        elif name == "draw-lenet":
            controller.set_source("draw")
            generate = self._pen
            controller.frame_shown.connect(lambda r: self._painted(r.stamp))
        else:
            controller.set_source("camera")
            generate = self._frame
            controller.frame_shown.connect(lambda r: self._painted(r.stamp))
        worker = controller.worker

        def dropped_count() -> int:
            return worker.dropped_lab if name == "kernel-lab" else worker.dropped + controller.dropped

        dropped_before = dropped_count()

        def tick() -> None:
            elapsed = time.perf_counter() - self.started
            if elapsed >= self.seconds:
                timer.stop()
                self.finished = True
                self.ended = time.perf_counter()
                QTimer.singleShot(300, loop.quit)
                return
            # an input is due at each 1/rate slot of the clock (the timer ticks twice per slot: a 17 ms timer
            # alone would make 60 Hz 58.8 Hz); a tick late by several slots makes one input, not a burst, as
            # Qt compresses the mouse moves that queue up behind a busy GUI thread
            slot = int(elapsed * self.scenario.rate_hz)
            if slot >= self.slot:
                self.slot = slot + 1
                self.inputs += 1
                self.step += 1
                generate()

        loop = QEventLoop()
        timer = QTimer()
        timer.setTimerType(Qt.TimerType.PreciseTimer)
        timer.timeout.connect(tick)
        for _ in range(5):  # warm up: tracing, first allocations, caches
            generate()
            self.step += 1
            app.processEvents()
        deadline = time.perf_counter() + 30
        while time.perf_counter() < deadline and (controller.last_frame is None if name != "kernel-lab"
                                                  else lab.last_result is None):
            app.processEvents()
            time.sleep(0.005)
        self.started = time.perf_counter()
        timer.start(max(1, int(500 / self.scenario.rate_hz)))
        loop.exec()  # a local loop: quitting the application would close the window and stop its worker
        elapsed = self.ended - self.started  # the input window (results painted after it are not counted)
        model = worker.model
        if name == "kernel-lab":
            image, bank = self.lab_photo, list(lab.bank)
            forward = on_worker(worker, lambda _model: _lab_compute_ms(image, bank))
        else:
            forward = on_worker(worker, bare_forward_ms)
        device = str(next(model.parameters()).device)
        return summarise(name, self.latencies, self.inputs, dropped_count() - dropped_before, elapsed, forward, device)


def on_worker(worker, fn: Callable[[object], float]) -> float:  # noqa: ANN001
    """``fn(model)`` on the app's worker thread, after what it was running, with the GUI thread asleep:
    a bare figure is then measured alone and on the thread the app's frames run on. (Measured on the GUI
    thread after the window had closed, VGG-16's bare forward read 317-347 ms where the worker thread
    reads 205-259 ms, more than the scenario's own latency.)"""
    done = threading.Event()
    box: list[float] = []

    def job(loaded: Loaded) -> None:
        try:
            box.append(fn(loaded.model))
        finally:
            done.set()

    worker.submit(Job("bench-bare", job, lambda _result: None))
    if not done.wait(300) or not box:
        raise RuntimeError("The bare measurement on the worker thread did not finish.")
    return box[0]


def _lab_compute_ms(image: np.ndarray, bank: list[Kernel]) -> float:
    """For the kernel lab, the 'bare' cost is the pipeline of one edit (no Qt), measured the same way:
    the first kernel changes every time, as in the scenario, so the other rows come from the lab's cache."""
    from cnnviz.core.lab.kernel_lab import LabRequest, run_lab

    times = []
    for i in range(13):
        bank[0] = Kernel("edited", np.full((3, 3), np.cos(i / 3), np.float32))
        request = LabRequest(image, tuple(bank))
        start = time.perf_counter()
        run_lab(request)
        if i >= 3:
            times.append(time.perf_counter() - start)
    return float(np.median(times) * 1000)


@contextmanager
def bench_window(model: str, device: str, untrained: bool = False) -> Iterator[App]:
    """The whole app on ``model``, shown at the app's own size once the model is in; closed afterwards."""
    import tempfile

    from PySide6.QtCore import QSettings

    from cnnviz.qt.app import build_app
    from cnnviz.qt.settings import Settings

    app = QApplication.instance() or QApplication(sys.argv[:1])
    quiet_offscreen()
    # a throw-away settings file: the bench must not change the user's remembered model or layout
    # (and never hand QSettings a device path: it saves by writing a temporary file and renaming it)
    folder = tempfile.mkdtemp(prefix="cnnviz-bench-")
    settings = Settings(QSettings(os.path.join(folder, "settings.ini"), QSettings.Format.IniFormat))
    built = build_app(model, device, untrained=untrained, settings=settings, autosave_on=False)
    window = built.window
    window.resize(1500, 920)
    window.show()
    try:
        deadline = time.perf_counter() + 60
        while built.controller.spec is None and time.perf_counter() < deadline:
            app.processEvents()
            time.sleep(0.01)
        yield built
    finally:
        window.close()  # (closing shuts the window's worker down)
        window.shutdown()
        window.deleteLater()
        QApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)  # gone before the next scenario starts
        app.processEvents()


def run_scenario(name: str, device: str, seconds: float) -> ScenarioStats:
    scenario = SCENARIOS[name]
    with bench_window(scenario.model, device, scenario.untrained) as built:
        return Driver(built, scenario, seconds).run(QApplication.instance())


def measure_startup(device: str) -> float:
    """Process start to the first complete update on screen, in a fresh process."""
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        env = {**os.environ, "QT_QPA_PLATFORM": os.environ.get("QT_QPA_PLATFORM", "offscreen"),
               "XDG_CONFIG_HOME": folder}
        start = time.perf_counter()
        out = subprocess.run([sys.executable, "-m", "cnnviz", "--model", "lenet5-mnist", "--device", device,
                              "--draw-demo", "--screenshot", os.path.join(folder, "first.png")],
                             capture_output=True, text=True, env=env, timeout=120)
        elapsed = time.perf_counter() - start
    if out.returncode != 0:
        raise RuntimeError(out.stderr.strip().splitlines()[-1] if out.stderr.strip() else "start-up failed")
    return elapsed
