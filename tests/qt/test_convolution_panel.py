"""The Convolution view both ways, against a fake controller and the real LeNet-5: the numbers it shows
at every step are the captured stage's, play / pause / step move through the sweep by timer ticks (called
here, never waited for), the stage and channel pickers tell the controller; and in the whole app."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("PySide6")

WAIT = 60_000


@pytest.fixture
def digit():
    from cnnviz.core.data.strokes import demo_digit, render

    return render(demo_digit(3))


@pytest.fixture
def captured(lenet, digit):
    """The stages of the digit as captured by a forward pass of its own (not the view's)."""
    from cnnviz.core.engine.inference import run_image

    result = run_image(lenet, digit).capture
    return {s.name: s.output[0].detach().numpy() for s in result.stages}


@pytest.fixture
def panel(qtbot, fake, digit, frame_of):
    from cnnviz.qt.panels.convolution_panel import ConvolutionPanel

    fake.inputs["draw"] = digit
    made = ConvolutionPanel(fake)
    qtbot.addWidget(made)
    made.resize(1100, 750)
    made.show()
    qtbot.waitExposed(made)
    fake.show(frame_of(3))  # the stage list, from a real frame
    return made


def _run(fake, lenet) -> int:  # noqa: ANN001
    """Run the recorded sweep jobs as the worker would (the last one wins, as on the worker)."""
    from cnnviz.qt.worker import Loaded

    jobs = [a for a in fake.called("run_job") if a[0] == "convolution"]
    fake.calls = [c for c in fake.calls if not (c[0] == "run_job" and c[1][0] == "convolution")]
    if jobs:
        _kind, fn, done = jobs[-1][:3]
        done(fn(Loaded(lenet, None)))
    return len(jobs)


def test_only_the_shown_view_asks_for_a_sweep(panel, fake, lenet, frame_of):
    fake.show(frame_of(3))
    assert _run(fake, lenet) == 0  # the network view is on screen
    fake.change(view="convolution", stage="conv1")
    assert _run(fake, lenet) == 1 and panel.frame is not None
    assert panel.stages.currentText() == "conv1"
    assert [panel.stages.itemText(i) for i in range(panel.stages.count())] == ["conv1", "pool1", "conv2", "pool2"]


def test_every_step_shows_the_captured_value(panel, fake, lenet, captured):
    from cnnviz.qt.views.sweep_view import number

    fake.change(view="convolution", stage="conv2", channel=5)
    _run(fake, lenet)
    sweep = panel.frame.sweep
    assert (sweep.stage_name, sweep.channel, len(sweep)) == ("conv2", 5, 100)
    assert panel.index == 0
    expected = captured["conv2"][5]
    for i in range(len(sweep)):
        y, x = divmod(i, 10)
        assert panel.index == i and (panel.view.detail.y, panel.view.detail.x) == (y, x)
        total = float(expected[y, x])
        summary = panel.view.summary
        assert f"output ({y}, {x}):" in summary and f"= {number(total)}" in summary
        assert summary.endswith(f"ReLU -> {number(max(total, 0.0))}")
        assert abs(panel.view.detail.total - total) < 1e-5
        assert len(panel.view.detail.per_channel) == 6  # conv2 reads the 6 channels of pool1
        panel.step(1)
    assert panel.index == 99  # the last position: a step further stays there
    panel.step(-1)
    assert panel.index == 98
    panel.rewind()
    assert panel.index == 0


def test_a_max_pool_shows_the_value_that_wins(panel, fake, lenet, captured):
    from cnnviz.qt.views.sweep_view import number

    fake.change(view="convolution", stage="pool1", channel=3)
    _run(fake, lenet)
    relu = captured["relu1"][3]
    for i in (0, 50, 130, 195):
        panel.show_index(i)
        d = panel.view.detail
        window = relu[2 * d.y:2 * d.y + 2, 2 * d.x:2 * d.x + 2]
        assert d.total == pytest.approx(float(window.max()), abs=1e-6)
        assert d.patch[0][d.winner] == pytest.approx(float(window.max()), abs=1e-6)
        assert panel.view.summary.endswith(number(float(captured["pool1"][3][d.y, d.x])))


def test_play_pause_and_speed_by_timer_ticks(panel, fake, lenet):
    fake.change(view="convolution", stage="conv1")
    _run(fake, lenet)  # 28 x 28 = 784 positions
    panel.speed.setValue(0)
    assert panel.rate == pytest.approx(1.0) and panel.timer.interval() == 1000 and panel.steps_per_tick == 1
    panel.toggle_play()
    assert panel.playing and panel.play_button.text() == "Pause"
    for _ in range(3):
        panel.advance()  # what the timer calls
    assert panel.index == 3
    panel.toggle_play()
    assert not panel.playing and panel.play_button.text() == "Play"
    panel.speed.setValue(100)  # the whole map in about a second
    assert panel.rate == pytest.approx(784) and panel.timer.interval() == 33
    assert panel.steps_per_tick == round(784 * 0.033)
    panel.toggle_play()
    ticks = 0
    while panel.playing:
        panel.advance()
        ticks += 1
    assert panel.index == 783 and ticks == -(-(783 - 3) // panel.steps_per_tick)
    assert 25 <= ticks <= 35  # ~30 ticks of 33 ms: about a second
    panel.toggle_play()  # at the end: from the start again
    assert panel.index == 0 and panel.playing
    fake.change(view="graph")  # out of sight: nothing plays
    assert not panel.playing


def test_a_stage_without_a_window_says_so(panel, fake, lenet):
    fake.change(view="convolution", stage="relu1")
    _run(fake, lenet)
    assert panel.frame is None and panel.ready
    assert "relu1 is a relu stage: it has no sliding window" in panel.view.message


def test_the_pickers_tell_the_controller(panel, fake, lenet):
    fake.change(view="convolution", stage="conv1")
    _run(fake, lenet)
    panel.stages.activated.emit(2)  # (what a user's choice in the list emits)
    assert fake.called("select_stage") == [("conv2",)]
    assert panel.channel.maximum() == 5
    panel.channel.setValue(4)
    assert fake.called("select_channel") == [(4,)]
    fake.change(stage="conv2", channel=4)  # the controller's answer: a new sweep, from its first step
    _run(fake, lenet)
    assert (panel.frame.sweep.stage_name, panel.frame.sweep.channel, panel.index) == ("conv2", 4, 0)
    assert panel.stages.currentText() == "conv2" and panel.channel.maximum() == 15


def test_a_new_input_keeps_the_window_where_it_is(panel, fake, lenet, frame_of, captured):
    fake.change(view="convolution", stage="conv1")
    _run(fake, lenet)
    panel.show_index(400)
    fake.inputs["draw"] = np.full((280, 280), 255, np.uint8)  # the user cleared the canvas
    fake.show(frame_of(None))
    _run(fake, lenet)
    assert panel.index == 400
    assert not np.allclose(panel.frame.sweep.captured, captured["conv1"][0])  # the new input's numbers


def test_in_the_app(app, qtbot, lenet):
    from cnnviz.core.engine.inference import run_image

    app.controller.select_stage("conv2")
    app.window.show_view("convolution")
    panel = app.convolution
    qtbot.waitUntil(lambda: panel.frame is not None and panel.frame.sweep.stage_name == "conv2", timeout=WAIT)
    expected = run_image(lenet, app.controller.current_input()).capture.by_name("conv2").output[0]
    channel = panel.frame.sweep.channel
    for index in (0, 57, 99):
        panel.show_index(index)
        d = panel.view.detail
        assert abs(d.total - float(expected[channel, d.y, d.x])) < 1e-5
    panel.stages.activated.emit(0)
    qtbot.waitUntil(lambda: app.controller.state.stage == "conv1" and panel.frame is not None
                    and panel.frame.sweep.stage_name == "conv1", timeout=WAIT)
