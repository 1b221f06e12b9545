"""The "what it looks for" panel in the whole app: clicking a channel's map fills it (the optimised input, the
top-9 patches with values and classes, the current input's place on the scale) from a job on the worker,
and a kernel edit makes it ask again."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("PySide6")

from PySide6.QtCore import QPoint, QPointF, Qt  # noqa: E402

WAIT = 60_000


def on_screen(maps, channel: int, y: int, x: int) -> QPoint:  # noqa: ANN001
    layout = maps.layout_info
    x0, y0 = layout.tile_origin(channel) if maps.enlarged is None else (0, 0)
    top, left, size = layout.to_tile(y, x)
    return maps.mapFromScene(maps.item.mapToScene(QPointF(x0 + left + size / 2, y0 + top + size / 2)))


def shows(maps, channel: int, y: int, x: int) -> bool:  # noqa: ANN001
    where = on_screen(maps, channel, y, x)
    point = maps.item.mapFromScene(maps.mapToScene(where))
    return maps.viewport().rect().contains(where) and maps.locate(point.x(), point.y()) == (channel, y, x)


def _open(app):  # noqa: ANN001, ANN202
    """View > What it looks for: the dock starts hidden (so it costs the worker nothing)."""
    (action,) = [a for a in app.window.menu("&View").actions() if a.text() == "What it looks for"]
    assert not app.looks_for.isVisible() and app.looks_for.studies_asked == 0
    action.trigger()
    return app.looks_for


def _settled(panel, channel: int) -> bool:  # noqa: ANN001
    return panel.study is not None and panel.study.channel == channel and not panel.progress.isVisible()


def test_clicking_a_channel_fills_the_panel_and_a_kernel_edit_invalidates_it(app, qtbot):
    import cnnviz
    from cnnviz.core.data.datasets import load_samples
    from cnnviz.core.lab.surgery import FilterEdit
    from cnnviz.core.teach.exemplars import scan

    panel, maps, controller = _open(app), app.network.maps, app.controller
    assert panel.isVisible()
    qtbot.waitUntil(lambda: _settled(panel, 0), timeout=WAIT)  # channel 0 of conv1, as the app opens
    qtbot.waitUntil(lambda: shows(maps, 4, 14, 14), timeout=WAIT)
    qtbot.mouseClick(maps.viewport(), Qt.MouseButton.LeftButton, pos=on_screen(maps, 4, 14, 14))
    qtbot.waitUntil(lambda: _settled(panel, 4), timeout=WAIT)
    study = panel.study
    assert study.stage == "conv1" and panel.title.text() == "What conv1 channel 4 looks for"
    assert not panel.feature.pixmap().isNull() and study.feature.shape == (28, 28)
    expected = scan(cnnviz.load_model("lenet5-mnist", "cpu"), load_samples("mnist"), "conv1", top=9).top(4)
    app.inputs.draw_demo(3)  # an input that excites it somewhat
    assert [e.index for e in study.exemplars] == [e.index for e in expected]
    assert all(not tile.pixmap().isNull() for tile in panel.tiles)
    names = load_samples("mnist").class_names
    assert panel.captions[0].text() == f"{names[expected[0].label]} · {expected[0].value:.3g}"
    assert "of 200 in samples-mnist" in panel.exemplars_title.text()
    qtbot.waitUntil(lambda: "excites channel 4 at" in panel.rank.text(), timeout=WAIT)
    assert panel.rank.text().endswith("% of its best dataset sample")
    from cnnviz.core.engine.preprocess import prepare

    model = cnnviz.load_model("lenet5-mnist", "cpu")
    x = prepare(controller.current_input(), model.cnnviz_spec).tensor
    value = float(cnnviz.capture(model, x).by_name("conv1").output[0, 4].max())
    wanted = f"this input excites channel 4 at {100 * value / expected[0].value:.0f} % of its best dataset sample"
    qtbot.waitUntil(lambda: panel.rank.text() == wanted, timeout=WAIT)  # (once the drawn 3's frame is in)

    asked = panel.studies_asked
    controller.edit_filter(FilterEdit("conv1", "conv1", 4, np.array([[1.0, 0.0, -1.0]] * 3, np.float32)))
    qtbot.waitUntil(lambda: panel.studies_asked > asked and _settled(panel, 4) and panel.study is not study,
                    timeout=WAIT)
    assert not np.array_equal(panel.study.feature, study.feature)  # the edited filter wants something else
    assert [e.index for e in panel.study.exemplars] != [e.index for e in study.exemplars]

    controller.select_stage("relu2")
    controller.select_channel(12)
    qtbot.waitUntil(lambda: _settled(panel, 12) and panel.study.stage == "relu2", timeout=WAIT)
    controller.select_stage("pool1")  # 6 channels: channel 12 is clamped to 5, as the maps clamp it
    qtbot.waitUntil(lambda: _settled(panel, 5) and panel.study.stage == "pool1", timeout=WAIT)
    assert not app.window.banner.isVisible()


def test_whole_stage_shows_every_channels_picture(app, qtbot):
    panel = _open(app)
    qtbot.waitUntil(lambda: _settled(panel, 0), timeout=WAIT)
    small = panel.feature.pixmap().width()
    panel.whole.click()
    qtbot.waitUntil(lambda: _settled(panel, 0) and panel.feature_caption.text().startswith("every channel"),
                    timeout=WAIT)
    assert panel.feature.pixmap().width() > small


def test_the_dock_is_remembered_open(make_app, qtbot):
    first = make_app()
    panel = _open(first)
    qtbot.waitUntil(lambda: panel.ready, timeout=WAIT)
    first.window.close()  # (closing the window must not count as closing the dock)
    second = make_app()
    assert second.looks_for.isVisible()
    qtbot.waitUntil(lambda: second.looks_for.ready and second.looks_for.study is not None, timeout=WAIT)


def test_a_large_model_waits_for_compute_and_stale_answers_are_dropped(qtbot, fake):
    from cnnviz.core.data.datasets import load_samples
    from cnnviz.core.models.zoo import get_spec
    from cnnviz.qt.panels.looks_for_panel import LooksForPanel

    panel = LooksForPanel(fake)
    qtbot.addWidget(panel)
    panel.show()
    qtbot.waitExposed(panel)
    fake.change(stage="layer1.0.conv1")
    fake.dataset_loaded.emit(load_samples("mnist"))
    fake.model_loaded.emit(get_spec("resnet18"), "")
    assert fake.called("run_job") == [] and panel.compute.isVisible()
    assert "Compute" in panel.title.text() and panel.ready  # (a screenshot need not wait for a click)
    panel.compute.click()
    ((kind, _fn, done, _failed),) = fake.called("run_job")
    assert kind == "looks-for" and not panel.compute.isVisible() and panel.progress.isVisible()
    fake.change(channel=3)  # another question before the answer came
    done((object(), None, None))  # an older question's answer: dropped
    assert panel.study is None and panel.compute.isVisible()
