"""The input side in both directions: drawing, tabs and samples -> set_input / set_source at the controller
(a fake one); results and the state -> the bars, the preprocessing steps, the tab shown. Then drawing, the
dataset and the camera through the real controller."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

pytest.importorskip("PySide6")

from PySide6.QtCore import QPoint, Qt  # noqa: E402

from cnnviz.core.choices import INPUT_SOURCES  # noqa: E402
from cnnviz.core.data.strokes import TEMPLATES, place  # noqa: E402

WAIT = 60_000


def drag(qtbot, widget, points) -> None:  # noqa: ANN001
    """A real mouse stroke: press, moves, release."""
    start = QPoint(*map(round, points[0]))
    qtbot.mousePress(widget, Qt.MouseButton.LeftButton, pos=start)
    for x, y in points[1:]:
        qtbot.mouseMove(widget, QPoint(round(x), round(y)))
    qtbot.mouseRelease(widget, Qt.MouseButton.LeftButton, pos=QPoint(*map(round, points[-1])))


def seven() -> list[tuple[float, float]]:
    strokes = place(TEMPLATES[7], 280, (60, 45, 160, 190))
    dense = []
    for (x0, y0), (x1, y1) in zip(strokes[0], strokes[0][1:], strict=False):
        dense += [(x0 + (x1 - x0) * t / 10, y0 + (y1 - y0) * t / 10) for t in range(10)]
    return dense


@pytest.fixture
def inputs(qtbot, fake, settings):
    from cnnviz.qt.panels.input_panel import InputPanel

    panel = InputPanel(fake, settings)
    qtbot.addWidget(panel)
    panel.resize(400, 900)
    panel.show()
    return panel


def test_drawing_and_tabs_reach_the_controller(inputs, fake, qtbot):
    (source, first), = fake.called("set_input")  # the blank canvas, when the panel is made
    assert source == "draw" and first.min() == 255
    fake.calls.clear()
    drag(qtbot, inputs.canvas, seven()[:30])
    sent = fake.called("set_input")
    assert len(sent) >= 10 and {s for s, _ in sent} == {"draw"}  # every pen move is an input
    assert sent[-1][1].min() < 50 and np.array_equal(sent[-1][1], inputs.canvas.to_array())
    inputs.tabs.setCurrentIndex(INPUT_SOURCES.index("dataset"))
    assert fake.called("set_source") == [("dataset",)]


def test_the_state_and_results_show_in_the_panel(inputs, fake, frame_of):
    fake.change(source="image")  # (a session, an opened image)
    assert inputs.tabs.currentIndex() == INPUT_SOURCES.index("image")
    assert set(fake.called("set_source")) <= {("image",)}  # (at most the state's own source, which changes nothing)
    result = frame_of(7)
    fake.show(result)
    assert inputs.softmax.top == list(result.top) and inputs.softmax.top[0][0] == "7"
    assert len(inputs.step_labels) == len(result.steps)
    assert [label.toolTip() for label in inputs.step_labels] == [name for name, _ in result.steps]
    assert all(not label.pixmap().isNull() for label in inputs.step_labels)
    grey = np.full((28, 28), 255, np.uint8)
    grey[10:18, 12:16] = 0
    fake.calls.clear()
    fake.input_changed.emit("draw", grey)  # a session's drawing: on the canvas, then the input
    assert inputs.tabs.currentIndex() == INPUT_SOURCES.index("draw")
    assert inputs.canvas.to_array()[140, 140] < 50 and fake.called("set_input")[-1][0] == "draw"


def test_a_dataset_sample_is_an_input(inputs, fake):
    from cnnviz.core.data.datasets import load_dataset

    data = load_dataset("samples-mnist", None, train=False)
    fake.dataset_loaded.emit(data)
    source, rgb = fake.called("set_input")[-1]
    assert source == "dataset" and rgb.shape[:2] == data.images[0].shape[:2]
    assert "true label" in inputs.dataset_panel.truth.text()
    fake.sample_requested.emit(7)  # (the Embedding view's click, through the controller)
    source, rgb = fake.called("set_input")[-1]
    assert source == "dataset" and np.array_equal(rgb[..., 0], data.images[7])
    assert "(#7 of" in inputs.dataset_panel.position.text()


# ---- through the real controller ----------------------------------------------------------------------
def input_panel(settings):  # noqa: ANN001, ANN201
    from cnnviz.qt.panels.input_panel import InputPanel

    return lambda controller: InputPanel(controller, settings)


def test_drawing_a_seven_with_the_mouse_puts_7_on_top(live, settings, qtbot):
    controller, (inputs,) = live(input_panel(settings))
    with qtbot.waitSignal(controller.frame_shown, timeout=WAIT, check_params_cb=lambda r: r.top and r.top[0][0] == "7"):
        drag(qtbot, inputs.canvas, seven())
    assert inputs.softmax.top[0][0] == "7"
    assert inputs.canvas.to_array().min() < 50  # ink really landed on the canvas


def test_updates_arrive_while_drawing_not_only_on_release(live, settings, qtbot):
    controller, (inputs,) = live(input_panel(settings))
    results = []
    controller.frame_shown.connect(results.append)
    qtbot.mousePress(inputs.canvas, Qt.MouseButton.LeftButton, pos=QPoint(60, 60))
    for i in range(1, 30):
        qtbot.mouseMove(inputs.canvas, QPoint(60 + 5 * i, 60 + 5 * i))
        if i % 10 == 0:  # the button is still down: results come while the pen moves
            qtbot.waitUntil(lambda n=i: len(results) >= n // 10, timeout=WAIT)
    qtbot.waitUntil(lambda: len(results) >= 3, timeout=WAIT)
    assert inputs.canvas.drawing  # the button is still down
    qtbot.mouseRelease(inputs.canvas, Qt.MouseButton.LeftButton, pos=QPoint(200, 200))
    assert not inputs.canvas.drawing


def test_dataset_tab_browses_and_filters_misclassified(live, settings, qtbot):
    controller, (inputs,) = live(input_panel(settings))
    panel = inputs.dataset_panel
    qtbot.waitUntil(lambda: panel.data is not None, timeout=WAIT)
    with qtbot.waitSignal(controller.frame_shown, timeout=WAIT):
        inputs.tabs.setCurrentIndex(INPUT_SOURCES.index("dataset"))
    first = panel.current()[1]
    panel.next()
    qtbot.waitUntil(lambda: "predicted" in panel.truth.text(), timeout=WAIT)  # the new sample's result
    assert "true label" in panel.truth.text()
    assert panel.current()[1] != first or len(panel.order) == 1
    panel.misclassified.setChecked(True)
    qtbot.waitUntil(lambda: panel.predicted is not None, timeout=WAIT)
    wrong = panel.predicted != panel.data.labels
    assert len(panel.order) == int(wrong.sum())
    assert "misclassified by lenet5-mnist" in panel.scan_note.text()  # stays, unlike the status bar


def test_camera_without_a_camera_says_so(live, settings, qtbot):
    _controller, (inputs,) = live(input_panel(settings))
    inputs.tabs.setCurrentIndex(INPUT_SOURCES.index("camera"))
    inputs.camera_panel.start(7)
    qtbot.waitUntil(lambda: "No picture" in inputs.camera_panel.status.text(), timeout=WAIT)
    assert inputs.camera_panel.thread is None


def test_camera_frames_flow_through_the_network(live, settings, qtbot, tmp_path):
    path = str(tmp_path / "clip.avi")
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"MJPG"), 20, (64, 48))
    if not writer.isOpened():
        pytest.skip("this OpenCV build cannot write MJPG")
    for i in range(20):
        writer.write(np.full((48, 64, 3), i * 10, np.uint8))
    writer.release()
    controller, (inputs,) = live(input_panel(settings))
    inputs.tabs.setCurrentIndex(INPUT_SOURCES.index("camera"))
    results = []
    controller.frame_shown.connect(lambda r: results.append(r) if r.steps[0][1].shape[:2] == (48, 64) else None)
    inputs.camera_panel.start(path)
    try:
        # three inputs (a catch-up refresh repaints an input under its own stamp: it is not a new frame)
        qtbot.waitUntil(lambda: len({r.stamp for r in results}) >= 3, timeout=WAIT)
    finally:
        inputs.camera_panel.stop()
    assert inputs.camera_panel.frames >= 3
