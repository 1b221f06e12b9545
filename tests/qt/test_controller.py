"""The controller and the worker without a window: the paint gate, the followers, freezing, the cadence of
the secondary views, the worker handing a detail refresh on, and a model whose warm-up fails.

What a test must prove does not happen is counted (frames asked, requests reaching the worker), never
waited for."""

from __future__ import annotations

import threading

import numpy as np
import pytest

pytest.importorskip("PySide6")

from cnnviz.core.data.strokes import demo_digit, render  # noqa: E402
from cnnviz.core.engine.frame import FrameRequest  # noqa: E402
from cnnviz.qt import cadence  # noqa: E402
from cnnviz.qt.worker import Job  # noqa: E402

WAIT = 60_000


def digit(n: int) -> np.ndarray:
    return render(demo_digit(n))


def settled(controller) -> bool:  # noqa: ANN001
    """Nothing on the worker, at the gate or waiting to be shown, and the catch-up refresh (if it was due) made."""
    return controller.is_idle() and controller.last_frame is not None and controller.last_frame.detail


@pytest.fixture
def sent(monkeypatch) -> list:
    """Every frame request that reaches a worker (the paint gate and the controller post through
    InferenceWorker.submit); patched before the controller is built, so the gate holds the recording one."""
    from cnnviz.qt.worker import InferenceWorker

    requests: list = []
    submit = InferenceWorker.submit

    def recording(self, request):  # noqa: ANN001, ANN202
        if isinstance(request, FrameRequest):
            requests.append(request)
        submit(self, request)

    monkeypatch.setattr(InferenceWorker, "submit", recording)
    return requests


@pytest.fixture
def gated(monkeypatch, sent, live, qtbot):
    """A live controller whose gate opens only when painted() says so (the gate's own timeout is made long)."""
    monkeypatch.setattr(cadence, "PAINT_WAIT_S", 600.0)
    controller, _ = live()

    def drained() -> bool:
        controller.painted()  # (no window here: the test plays its paints)
        return settled(controller)

    qtbot.waitUntil(drained, timeout=WAIT)
    controller.painted()
    sent.clear()
    return controller


def test_the_paint_gate_holds_the_newest_request_until_the_last_frame_is_painted(gated, sent, qtbot):
    """On the CPU the next forward pass waits for the window to paint the last result (a paint and a forward
    pass would share the two cores and the GIL); what waits is the newest input only."""
    controller = gated
    first, second, third = digit(1), digit(2), digit(3)
    with qtbot.waitSignal(controller.frame_shown, timeout=WAIT, check_params_cb=lambda r: r.top[0][0] == "1"):
        controller.set_input("draw", first)
    assert [r.rgb is first for r in sent] == [True]  # the gate was open: it went straight to the worker
    dropped = controller.dropped
    controller.set_input("draw", second)
    controller.set_input("draw", third)
    qtbot.waitUntil(lambda: controller.join(0) and not controller.gate.in_flight, timeout=WAIT)
    # the first frame is shown but not painted: nothing more reached the worker, the newest input waits
    assert len(sent) == 1 and controller.gate.held is not None and controller.gate.held.rgb is third
    assert controller.dropped >= dropped + 1 and not controller.is_idle()  # (the second input was replaced)
    with qtbot.waitSignal(controller.frame_shown, timeout=WAIT, check_params_cb=lambda r: r.top[0][0] == "3"):
        controller.painted()  # the window has painted: the held request goes
    assert [r.rgb is third for r in sent[1:]][:1] == [True]
    assert all(r.rgb is not second for r in sent)  # the replaced input never reached the worker


def test_without_a_cpu_model_the_gate_never_holds(gated, sent, qtbot, monkeypatch):
    """On a GPU overlapping the paint and the next forward pass is what lets updates outrun the paint."""
    controller = gated
    monkeypatch.setattr(controller.gate, "enabled", False)  # (as reset() leaves it for a model on a GPU)
    pictures = [digit(n) for n in (4, 5, 6)]
    for picture in pictures:
        controller.set_input("draw", picture)
    assert [r.rgb for r in sent] == pictures and controller.gate.held is None
    qtbot.waitUntil(lambda: settled(controller), timeout=WAIT)


def test_frozen_asks_for_no_frames_and_going_live_shows_the_latest_input(live, qtbot):
    controller, _ = live()
    qtbot.waitUntil(lambda: settled(controller), timeout=WAIT)
    controller.set_frozen(True)
    asked, shown = controller.frames_asked, controller.last_frame
    for n in (3, 8, 9):
        controller.set_input("draw", digit(n))
    controller.select_stage("pool2")
    controller.set_options(per_channel=False)
    assert controller.frames_asked == asked and controller.is_idle()  # inputs taken, nothing computed
    assert controller.last_frame is shown and controller.state.stage == "pool2"
    with qtbot.waitSignal(controller.frame_shown, timeout=WAIT,
                          check_params_cb=lambda r: r.top[0][0] == "9" and r.selected == "pool2"):
        controller.set_frozen(False)
    assert controller.frames_asked == asked + 1


def test_the_secondary_views_catch_up_with_the_last_input(live, qtbot):
    """Strip thumbnails, filters and preprocessing steps refresh at most every DETAIL_INTERVAL while input
    flows; once it stops they still end on the last input, which keeps its stamp (latency counts from it)."""
    controller, _ = live()
    qtbot.waitUntil(lambda: settled(controller), timeout=WAIT)
    controller.set_input("draw", digit(7))  # (detail is due: a while since the last one)
    qtbot.waitUntil(lambda: settled(controller), timeout=WAIT)  # a full update
    shown: list = []
    controller.frame_shown.connect(shown.append)
    asked = controller.frames_asked
    controller.refresh(detail=False)  # an input right after a full update: only the maps are asked for
    stamp = controller.last_frame.stamp
    qtbot.waitUntil(lambda: settled(controller) and any(r.detail for r in shown), timeout=WAIT)
    assert controller.frames_asked == asked + 2  # the maps, then one catch-up with every view
    assert len({r.stamp for r in shown}) == 1 and shown[0].stamp > stamp  # all for that one input, its stamp kept
    assert shown[-1].detail and not any(r.detail for r in shown[:-1])  # (a detail frame sends its maps early)


def test_a_failing_follower_job_clears_only_its_own_turn(live, qtbot):
    """The explanation's job fails while the comparison's waits: the message shows, the explanation can run
    again at once, and the comparison still gets its result and its next turn."""
    controller, _ = live()
    qtbot.waitUntil(lambda: settled(controller), timeout=WAIT)
    release_explain, release_compare = threading.Event(), threading.Event()
    made = {"explain": 0, "compare": 0}
    results: list = []

    def explain_job(_state, _rgb):  # noqa: ANN001, ANN202
        made["explain"] += 1
        first = made["explain"] == 1

        def work(_loaded):  # noqa: ANN001, ANN202 - on the worker
            release_explain.wait(WAIT / 1000)
            if first:
                raise ValueError("explain broke")
            return "explained"

        return Job("explain", work, lambda value: results.append(("explain", value)),
                   lambda message: results.append(("explain failed", message)))

    def compare_job(_state, _rgb):  # noqa: ANN001, ANN202
        made["compare"] += 1

        def work(_loaded):  # noqa: ANN001, ANN202
            release_compare.wait(WAIT / 1000)
            return "compared"

        return Job("compare", work, lambda value: results.append(("compare", value)))

    controller.followers.add("explain", explain_job)
    controller.followers.add("compare", compare_job)
    try:
        controller.set_view("explain")  # the explanation's job runs (and waits on the worker)
        controller.set_view("compare")  # the comparison's job queues behind it
        assert made == {"explain": 1, "compare": 1}
        with qtbot.waitSignal(controller.error, timeout=WAIT) as error:
            release_explain.set()
        assert "explain broke" in error.args[0]
        assert results == [("explain failed", error.args[0])]
        assert controller.followers.busy == {"compare"}  # only the explanation's turn was cleared
        controller.set_view("explain")
        assert made["explain"] == 2  # it may run again at once
        controller.set_view("compare")
        assert made["compare"] == 1  # still busy: it runs again once its job is done
        release_compare.set()
        qtbot.waitUntil(lambda: controller.is_idle() and len(results) == 4, timeout=WAIT)
    finally:
        release_explain.set()
        release_compare.set()
    assert made == {"explain": 2, "compare": 2}
    assert sorted(results[1:]) == [("compare", "compared"), ("compare", "compared"), ("explain", "explained")]


def test_a_busy_worker_hands_the_detail_refresh_to_the_newer_input(monkeypatch):
    """On a slow model the frame's forward pass outlasts the gap between inputs: its secondary views
    move to the input already waiting, unless they are overdue (DETAIL_OVERDUE_S). Driven through
    submit alone, on the test's thread (the worker's signals are blocked while a newer input is posted,
    so it waits in the mailbox as it would behind a busy worker)."""
    from types import SimpleNamespace

    import torch

    from cnnviz.qt import worker as worker_module

    clock = [100.0]
    monkeypatch.setattr(worker_module, "time", SimpleNamespace(perf_counter=lambda: clock[0]))
    worker = worker_module.InferenceWorker()
    worker.model = torch.nn.Linear(2, 2)
    rgb = np.zeros((28, 28, 3), np.uint8)
    shown = frozenset({"conv1"})
    runs: list[tuple[FrameRequest, bool | None]] = []
    newer: list[FrameRequest] = []

    def process_frame(model, request, baseline, details_now, early):  # noqa: ANN001, ANN202
        if newer:  # (posted once, while the first frame runs)
            worker.blockSignals(True)  # (no wake: the newer input waits while this frame runs)
            worker.submit(newer.pop())
            worker.blockSignals(False)
        runs.append((request, details_now() if request.detail else None))
        return SimpleNamespace(request=request)

    monkeypatch.setattr(worker_module, "process_frame", process_frame)
    current = FrameRequest(rgb, detail=True, visible=shown)
    worker.submit(current)
    assert runs == [(current, True)]  # nothing waits: the details now

    clock[0] += 0.2
    newer.append(FrameRequest(rgb, detail=False))
    runs.clear()
    worker.submit(current)
    (first, handed_on), (taken, now) = runs
    assert first is current and handed_on is False  # newer input waits: it takes the details
    assert taken.detail and taken.visible == shown and now is True

    clock[0] += cadence.DETAIL_OVERDUE_S + 0.01
    newer.append(FrameRequest(rgb, detail=False))
    runs.clear()
    worker.submit(current)
    (first, due), (later, _) = runs
    assert due is True and not later.detail  # overdue: now, even with input waiting
    assert worker.wait_idle(0)


def test_a_model_whose_warm_up_fails_still_loads(live, monkeypatch):
    """The warm-up is an optimisation: its failure must not stop a load (a model that cannot run says
    so on its first real frame, as before)."""
    from cnnviz.core.engine import inference

    def broken(model):  # noqa: ANN001, ANN202
        raise RuntimeError("warm-up broke")

    monkeypatch.setattr(inference, "warm_up", broken)
    errors: list[str] = []

    def listen(controller):  # noqa: ANN001, ANN202
        controller.error.connect(errors.append)

    controller, _ = live(listen)
    assert controller.worker.model is not None and controller.last_frame.top and not errors


def test_every_result_and_job_callback_runs_on_the_gui_thread(live, qtbot):
    """PySide6 runs a lambda connected to a worker signal on the worker thread; widgets built there crash
    the app (the tour did). Every callback of the controller must come back on the GUI thread."""
    import threading

    from cnnviz.core.errors import CnnvizError

    controller, _ = live()
    gui = threading.main_thread()
    on_gui: dict[str, bool] = {}

    def refuse(_loaded: object) -> None:
        raise CnnvizError("probe")

    controller.frame_shown.connect(lambda _r: on_gui.setdefault("frame", threading.current_thread() is gui))
    controller.run_job("probe", lambda _loaded: 1,
                       lambda _v: on_gui.setdefault("done", threading.current_thread() is gui))
    controller.run_job("probe-fails", refuse, lambda _v: None,
                       lambda _m: on_gui.setdefault("failed", threading.current_thread() is gui))
    controller.set_input("draw", digit(3))
    qtbot.waitUntil(lambda: len(on_gui) == 3, timeout=WAIT)
    assert all(on_gui.values()), on_gui
