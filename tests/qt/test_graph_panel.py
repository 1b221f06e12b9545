"""The Graph view both ways: the state's stage highlighted, a click on a box selecting that stage, the graph
made on the worker once per model and only while the view is shown; and in the whole app."""

from __future__ import annotations

import pytest

pytest.importorskip("PySide6")

from PySide6.QtCore import Qt  # noqa: E402

WAIT = 60_000


def _run_jobs(fake, loaded, kind: str = "graph") -> int:  # noqa: ANN001
    """Run the fake controller's recorded jobs of ``kind`` as the worker would; returns how many ran."""
    jobs = [args for args in fake.called("run_job") if args[0] == kind]
    for args in jobs:
        _kind, fn, done = args[:3]
        done(fn(loaded))
    fake.calls = [c for c in fake.calls if not (c[0] == "run_job" and c[1][0] == kind)]
    return len(jobs)


@pytest.fixture
def panel(qtbot, fake):
    from cnnviz.qt.panels.graph_panel import GraphPanel

    made = GraphPanel(fake)
    qtbot.addWidget(made)
    made.resize(900, 700)
    made.show()
    qtbot.waitExposed(made)
    return made


@pytest.fixture
def on_lenet(lenet):
    from cnnviz.qt.worker import Loaded

    return Loaded(lenet, None)


def _centre(panel, name: str):  # noqa: ANN001, ANN202
    box = panel.view.boxes[name]
    panel.view.ensureVisible(box, 10, 10)
    return panel.view.mapFromScene(box.sceneBoundingRect().center())


def test_the_graph_is_made_on_the_worker_only_when_the_view_is_shown(panel, fake, on_lenet):
    fake.model_loaded.emit(None, "")  # the network view is on screen: nothing to make yet
    assert fake.called("run_job") == []
    fake.change(view="graph")
    assert [a[0] for a in fake.called("run_job")] == ["graph"]
    assert _run_jobs(fake, on_lenet) == 1
    assert panel.ready
    assert set(panel.view.boxes) == {"input", "conv1", "relu1", "pool1", "conv2", "relu2", "pool2", "flatten",
                                     "fc1", "relu3", "fc2", "relu4", "fc3", "softmax"}
    fake.change(view="network")
    fake.change(view="graph")  # shown again, same model: the graph is kept
    assert fake.called("run_job") == []
    fake.model_loaded.emit(None, "")  # a new model while it is shown: made again
    assert [a[0] for a in fake.called("run_job")] == ["graph"]


def test_the_state_stage_is_highlighted(panel, fake, on_lenet):
    fake.change(view="graph", stage="pool1")
    _run_jobs(fake, on_lenet)
    assert panel.view.selected == "pool1"
    assert panel.view.boxes["pool1"].pen().width() == 4 and panel.view.boxes["conv2"].pen().width() == 1
    fake.change(stage="conv2")  # chosen elsewhere (the strip, the tour)
    assert panel.view.selected == "conv2"
    assert panel.view.boxes["conv2"].pen().width() == 4 and panel.view.boxes["pool1"].pen().width() == 1


def test_a_click_on_a_box_selects_that_stage(panel, fake, on_lenet, qtbot):
    fake.change(view="graph")
    _run_jobs(fake, on_lenet)
    qtbot.mouseClick(panel.view.viewport(), Qt.MouseButton.LeftButton, pos=_centre(panel, "conv2"))
    qtbot.mouseClick(panel.view.viewport(), Qt.MouseButton.LeftButton, pos=_centre(panel, "fc1"))
    assert fake.called("select_stage") == [("conv2",), ("fc1",)]
    qtbot.mouseClick(panel.view.viewport(), Qt.MouseButton.LeftButton, pos=_centre(panel, "input"))
    assert len(fake.called("select_stage")) == 2  # the input is not a stage


def test_the_wheel_zooms(panel, fake, on_lenet, qtbot):
    from PySide6.QtCore import QPoint, QPointF
    from PySide6.QtGui import QWheelEvent
    from PySide6.QtWidgets import QApplication

    fake.change(view="graph")
    _run_jobs(fake, on_lenet)
    before = panel.view.transform().m11()
    centre = QPointF(panel.view.viewport().rect().center())
    event = QWheelEvent(centre, panel.view.viewport().mapToGlobal(centre), QPoint(0, 0), QPoint(0, 240),
                        Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(panel.view.viewport(), event)
    assert panel.view.transform().m11() == pytest.approx(before * 1.15 ** 2)


@pytest.mark.parametrize("name", ["resnet18", "googlenet"])
def test_imagenet_graphs_fold_their_blocks(panel, fake, qtbot, name):
    from cnnviz.core.engine.summary import summarize
    from cnnviz.core.models.model_io import load_model
    from cnnviz.qt.worker import Loaded

    model = load_model(name, "cpu", pretrained=False)
    fake.change(view="graph", stage="layer1.0.conv2" if name == "resnet18" else "inception3a.branch2.0.conv")
    _run_jobs(fake, Loaded(model, None))
    graph = panel.view.graph
    stages = {row.name for row in summarize(model, (3, 224, 224)).stages}
    assert stages <= set(panel.view.boxes)
    assert panel.view.selected == fake.state.stage
    joins = [n for n in graph.nodes if n.kind == ("add" if name == "resnet18" else "concat")]
    assert len(joins) == (8 if name == "resnet18" else 9)
    block = "layer1.0" if name == "resnet18" else "inception3a"
    frame = panel.view.blocks[block]
    panel.view.centerOn(frame.label)
    label = panel.view.mapFromScene(frame.label.sceneBoundingRect().center())
    qtbot.mouseClick(panel.view.viewport(), Qt.MouseButton.LeftButton, pos=label)
    assert frame.folded
    inside = panel.view.mapFromScene(frame.rect().center())
    qtbot.mouseClick(panel.view.viewport(), Qt.MouseButton.LeftButton, pos=inside)  # a click on the cover opens it
    assert not frame.folded
    assert fake.called("select_stage") == []  # folding is not selecting


def test_in_the_app_a_click_selects_the_stage_everywhere_and_boxes_get_thumbnails(app, qtbot):
    app.window.show_view("graph")
    panel = app.graph
    qtbot.waitUntil(lambda: panel.ready, timeout=WAIT)
    assert panel.view.selected == app.controller.state.stage == "conv1"
    qtbot.mouseClick(panel.view.viewport(), Qt.MouseButton.LeftButton, pos=_centre(panel, "pool2"))
    qtbot.waitUntil(lambda: app.controller.last_frame is not None and app.controller.last_frame.selected == "pool2"
                    and app.controller.last_frame.detail, timeout=WAIT)
    assert app.controller.state.stage == "pool2" and panel.view.selected == "pool2"
    qtbot.waitUntil(lambda: not panel.view.boxes["pool2"].thumb.pixmap().isNull(), timeout=WAIT)
    app.window.show_view("network")
    assert app.network.maps_title.text().startswith("pool2 [pool]")
