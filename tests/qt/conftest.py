"""Qt test setup: throw-away settings, the whole app, a live controller for panel tests, a fake controller and
real frame results for view tests, and a guard that fails any test leaving a thread running or a window open.

Rules these tests keep (the project's architecture): no test reads a private attribute of another object,
nothing sleeps or waits a fixed time (tests wait for conditions, or count the work asked for), and views
are tested in both directions against a fake controller or real results.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator

import numpy as np
import pytest

pytest.importorskip("PySide6")

from PySide6.QtCore import QObject, QSettings, QThread, Signal  # noqa: E402
from PySide6.QtWidgets import QApplication, QVBoxLayout, QWidget  # noqa: E402

WAIT = 60_000  # ms: the longest any condition is waited for (a loaded CI machine is slow, never this slow)


# ---- the guard: nothing outlives its test -------------------------------------------------------------
def _running_threads() -> list[QThread]:
    # (type(), not isinstance: no __class__ look-ups, which some torch objects answer with a warning)
    return [o for o in gc.get_objects() if issubclass(type(o), QThread) and o.isRunning()]


def _open_windows() -> list[QWidget]:
    return [w for w in QApplication.topLevelWidgets() if w.isVisible()]


@pytest.fixture(autouse=True)
def nothing_left_running(qapp) -> Iterator[None]:
    """Fails a test that leaves a QThread running (a controller, camera or training thread not shut down)
    or a top-level window open (widgets given to qtbot.addWidget are closed before this looks)."""
    threads_before = {id(t) for t in _running_threads()}
    windows_before = {id(w) for w in _open_windows()}
    yield
    qapp.processEvents()
    threads = [t for t in _running_threads() if id(t) not in threads_before]
    windows = [w for w in _open_windows() if id(w) not in windows_before]
    names = [t.objectName() or type(t).__name__ for t in threads]
    titles = [w.windowTitle() or type(w).__name__ for w in windows]
    for thread in threads:  # (stopped, so the next test starts clean)
        thread.quit()
        thread.wait(5000)
    for window in windows:
        window.close()
    if threads or windows:
        pytest.fail(f"left running: threads {names}, windows {titles}")


# ---- settings and the whole app -----------------------------------------------------------------------
@pytest.fixture
def settings(tmp_path):
    """A throw-away settings file (never the user's)."""
    from cnnviz.qt.settings import Settings

    return Settings(QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))


def start_app(qtbot, settings, model: str = "lenet5-mnist"):  # noqa: ANN001, ANN201
    """build_app on the CPU at the app's own size, shown, once the samples and the first frame are in."""
    from cnnviz.qt.app import build_app

    built = build_app(model, "cpu", settings=settings)
    qtbot.addWidget(built.window)  # (closed after the test: closing shuts the app down)
    built.window.resize(1500, 920)  # the app's own size: a map pixel then spans several screen pixels
    built.window.show()
    qtbot.waitUntil(lambda: built.inputs.dataset_panel.data is not None and built.controller.last_frame is not None,
                    timeout=WAIT)
    return built


@pytest.fixture
def make_app(qtbot, settings):
    """``make_app(model="lenet5-mnist")``: another whole app (started when the test asks, after its patches)."""
    made = []

    def make(model: str = "lenet5-mnist"):  # noqa: ANN202
        made.append(start_app(qtbot, settings, model))
        return made[-1]

    yield make
    for built in made:
        built.shutdown()


@pytest.fixture
def app(make_app):
    """The whole app on lenet5-mnist and the CPU (cnnviz.qt.app.App)."""
    return make_app()


# ---- a real controller for panel tests ----------------------------------------------------------------
@pytest.fixture
def live(qtbot, settings):
    """``live(*make_panel, model=...)``: a real Controller on the CPU with the panels ``make_panel(controller)``
    builds shown in one widget, once the model has loaded and the first frame is in; returns
    (controller, [panels]). Without an input panel the input is a blank canvas."""
    from cnnviz.qt.controller import Controller
    from cnnviz.qt.state import ViewState

    made, hosts = [], []

    def make(*builders: Callable, model: str = "lenet5-mnist", first_frame: bool = True):  # noqa: ANN202
        controller = Controller(ViewState(model, "cpu"), settings)
        made.append(controller)
        host = QWidget()
        layout = QVBoxLayout(host)
        panels = [build(controller) for build in builders]
        for panel in panels:
            if isinstance(panel, QWidget):
                layout.addWidget(panel)
        qtbot.addWidget(host)  # (closed after the test; qtbot keeps only a weak reference)
        hosts.append(host)
        host.resize(1100, 800)
        host.show()
        if controller.current_input() is None:
            controller.set_input("draw", np.full((280, 280), 255, np.uint8))
        controller.start()
        if first_frame:
            qtbot.waitUntil(lambda: controller.last_frame is not None, timeout=WAIT)
        return controller, panels

    yield make
    for controller in made:
        controller.shutdown()


# ---- fakes and real results for view tests ------------------------------------------------------------
class _Followers(dict):
    """The controller's followers as the fake keeps them: view -> make_job."""

    def add(self, view: str, make_job) -> None:  # noqa: ANN001
        self[view] = make_job


class FakeController(QObject):
    """The controller's signals and state, with every intent recorded in ``calls`` as (name, args, kwargs)."""

    state_changed = Signal(object, object)
    frame_ready = Signal(object)
    details_ready = Signal(object)
    frame_shown = Signal(object)
    lab_ready = Signal(object)
    model_loading = Signal(str)
    model_loaded = Signal(object, str)
    edited_changed = Signal(bool)
    error = Signal(str)
    cleared = Signal()
    status = Signal(str)
    trust_needed = Signal(str, str)
    weights_missing = Signal(str, str)
    input_changed = Signal(str, object)
    image_opened = Signal(str)
    dataset_loaded = Signal(object)
    predictions_ready = Signal(object)
    sample_requested = Signal(int)
    session_opened = Signal(object)
    session_saved = Signal(str)

    INTENTS = ("select_stage", "select_channel", "set_in_channel", "set_options", "refresh", "load_model",
               "set_device", "set_lab", "edit_filter", "set_input", "set_source", "load_dataset", "scan_dataset",
               "open_image", "use_image", "use_model_input", "choose_sample", "set_view", "set_frozen", "follow",
               "run_job", "painted",
               "save_session", "open_session", "shutdown")

    def __init__(self, state=None) -> None:  # noqa: ANN001
        from cnnviz.qt.state import ViewState

        super().__init__()
        self.state = state or ViewState("lenet5-mnist", "cpu")
        self.calls: list[tuple[str, tuple, dict]] = []
        self.last_frame = None
        self.edited = False
        self.spec = None
        self.device_in_use = "cpu"
        self.visible: Callable[[], frozenset[str] | None] = lambda: None
        self.followers = _Followers()
        self.inputs: dict[str, np.ndarray] = {}

    def called(self, name: str) -> list[tuple]:
        """The arguments of every call of ``name``, in order (keyword arguments as a dict at the end, if any)."""
        return [args + ((kwargs,) if kwargs else ()) for n, args, kwargs in self.calls if n == name]

    def set_visible_stages(self, visible) -> None:  # noqa: ANN001
        self.visible = visible

    def current_input(self) -> np.ndarray | None:
        return self.inputs.get(self.state.source)

    def current_tensor(self):  # noqa: ANN201 - the exact model input of the current picture (none in the fake)
        return None

    def change(self, **changes) -> None:  # noqa: ANN003
        """A new state from elsewhere (a session, a fallback): the views are told as the real one tells them."""
        from dataclasses import replace

        old, self.state = self.state, replace(self.state, **changes)
        self.state_changed.emit(self.state, old)

    def show(self, result) -> None:  # noqa: ANN001
        """Hand a frame result to the views as the controller does (maps first, then the details)."""
        self.last_frame = result
        self.frame_ready.emit(result)
        if result.detail:
            self.details_ready.emit(result)
        self.frame_shown.emit(result)


def _intent(name: str) -> Callable:
    def record(self: FakeController, *args, **kwargs) -> None:  # noqa: ANN002, ANN003
        self.calls.append((name, args, kwargs))

    record.__name__ = name
    return record


for _name in FakeController.INTENTS:
    setattr(FakeController, _name, _intent(_name))


@pytest.fixture
def fake() -> FakeController:
    return FakeController()


@pytest.fixture(scope="session")
def lenet():
    """The shipped trained LeNet-5 (MNIST), loaded once: real results for view tests, without a worker."""
    import cnnviz

    return cnnviz.load_model("lenet5-mnist", "cpu")


@pytest.fixture
def frame_of(lenet):
    """``frame_of(digit=7, stage=None, **request)``: the FrameResult of a drawn digit, made by process_frame."""
    from cnnviz.core.data.strokes import demo_digit, render
    from cnnviz.core.engine.frame import FrameRequest, process_frame

    def make(digit: int | None = 7, stage: str | None = None, **request):  # noqa: ANN003, ANN202
        grey = render(demo_digit(digit)) if digit is not None else np.full((280, 280), 255, np.uint8)
        return process_frame(lenet, FrameRequest(grey, stage, **request))

    return make
