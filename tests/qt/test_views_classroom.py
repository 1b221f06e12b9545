"""The views of #20 in the classroom: sessions remember them, the tour stays on the graph, presenter mode
enlarges the graph and the convolution, and the command line's --view NAME --screenshot draws all four."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("PySide6")

from PySide6.QtWidgets import QApplication  # noqa: E402

WAIT = 60_000
ORANGE = np.array([234, 88, 12])  # the selected box, the window: #ea580c
MARKS = {"graph": ORANGE, "convolution": ORANGE, "embedding": np.array([245, 180, 0]),  # the input's star
         "attack": np.array([103, 0, 31])}  # the perturbation at +eps, on the diverging map


@pytest.mark.parametrize("view", ["graph", "convolution", "embedding", "attack"])
def test_a_session_file_keeps_the_view(view, tmp_path):
    from cnnviz.core.teach.session import load_session, save_session
    from cnnviz.qt.state import ViewState, from_session, to_session

    state = ViewState("lenet5-mnist", "cpu", view=view, stage="conv2")
    path = save_session(tmp_path / "lesson.cnnviz", to_session(state, None))
    restored = from_session(ViewState("lenet5-mnist", "cpu"), load_session(path))
    assert (restored.view, restored.stage) == (view, "conv2")


def test_a_session_opened_in_the_app_shows_its_view(app, qtbot, tmp_path):
    from cnnviz.qt import session_files

    controller, window = app.controller, app.window
    controller.select_stage("pool2")
    window.show_view("convolution")
    qtbot.waitUntil(lambda: app.convolution.frame is not None, timeout=WAIT)
    with qtbot.waitSignal(controller.session_saved, timeout=WAIT) as saved:
        session_files.save(controller, tmp_path / "lesson.cnnviz")
    window.show_view("graph")
    controller.select_stage("conv1")
    session_files.open_file(controller, saved.args[0])
    qtbot.waitUntil(lambda: window.view_key == "convolution" and app.convolution.frame is not None
                    and app.convolution.frame.sweep.stage_name == "pool2", timeout=WAIT)


def test_the_tour_stays_on_the_graph_and_moves_its_highlight(app, qtbot):
    controller, tour, graph = app.controller, app.tour, app.graph
    app.window.show_view("graph")
    qtbot.waitUntil(lambda: graph.ready, timeout=WAIT)
    tour.toggle()
    qtbot.waitUntil(lambda: tour.active, timeout=WAIT)
    for _ in range(3):
        tour.bar.next()
        stage = tour.bar.current.stage
        qtbot.waitUntil(lambda s=stage: controller.last_frame.selected == s, timeout=WAIT)
        assert app.window.view_key == "graph" and graph.view.selected == stage
    assert tour.bar.caption.isVisible() and tour.bar.current.stage != "input"
    tour.toggle()


def test_presenter_mode_enlarges_the_graph_and_the_convolution(app, qtbot):
    graph, convolution, presenter = app.graph, app.convolution, app.presenter
    app.window.show_view("graph")
    qtbot.waitUntil(lambda: graph.ready, timeout=WAIT)
    zoom = graph.view.transform().m11()
    caption = convolution.caption.fontInfo().pointSizeF()
    presenter.toggle()
    try:
        assert graph.view.transform().m11() == pytest.approx(zoom * 1.6)
        app.window.show_view("convolution")
        qtbot.waitUntil(lambda: convolution.frame is not None, timeout=WAIT)
        assert QApplication.font().pointSizeF() > 0
        qtbot.waitUntil(lambda: convolution.caption.fontInfo().pointSizeF() > caption * 1.4, timeout=5000)
        assert convolution.view.fontInfo().pointSizeF() > caption * 1.4  # the numbers it paints, too
    finally:
        presenter.toggle()
    assert graph.view.transform().m11() == pytest.approx(zoom)


@pytest.mark.parametrize("view", ["graph", "convolution", "embedding", "attack"])
def test_the_view_renders_with_screenshot(view, tmp_path):
    from cnnviz.core.data.imageio import read_image

    out = tmp_path / f"{view}.png"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "XDG_CONFIG_HOME": str(tmp_path),
           "XDG_DATA_HOME": str(tmp_path), "XDG_CACHE_HOME": str(tmp_path)}
    result = subprocess.run([sys.executable, "-m", "cnnviz", "--model", "lenet5-mnist", "--draw-demo", "--view", view,
                             "--stage", "conv2", "--screenshot", str(out)], capture_output=True, text=True,
                            timeout=180, env=env)
    assert result.returncode == 0 and result.stderr == "", result.stderr
    image = read_image(out).rgb
    assert image.shape[0] > 400
    right = image[:, image.shape[1] // 4:]  # the views' side of the window
    marked = np.abs(right.astype(int) - MARKS[view]).sum(axis=2) < 30
    assert marked.sum() > 40  # the selected box, the window, the star, the perturbation is drawn
