"""The network view in both directions: real results (process_frame on LeNet-5) in -> maps, strip, title,
input, chain, filters and arithmetic drawn; the user's clicks and hovers -> the intent at the controller
(a fake one). Then a few with the real controller, where the cadence is what is tested."""

from __future__ import annotations

import threading

import numpy as np
import pytest

pytest.importorskip("PySide6")

from PySide6.QtCore import QPoint, QPointF, Qt  # noqa: E402
from PySide6.QtGui import QColor  # noqa: E402

from cnnviz.core.data.strokes import demo_digit, render  # noqa: E402

WAIT = 60_000
SELECTED = "2166ac"  # the selected card's border colour


@pytest.fixture
def panel(qtbot, fake):
    from cnnviz.qt.panels.network_panel import NetworkPanel

    view = NetworkPanel(fake)
    qtbot.addWidget(view)
    view.resize(1100, 800)
    view.show()
    qtbot.waitExposed(view)
    return view


def on_screen(maps, channel: int, y: int, x: int) -> QPoint:  # noqa: ANN001
    """Where the centre of map pixel (y, x) of ``channel``'s tile is in the maps view's viewport."""
    layout = maps.layout_info
    x0, y0 = layout.tile_origin(channel) if maps.enlarged is None else (0, 0)
    top, left, size = layout.to_tile(y, x)
    centre = QPointF(x0 + left + size / 2, y0 + top + size / 2)
    return maps.mapFromScene(maps.item.mapToScene(centre))


def shows(maps, channel: int, y: int, x: int) -> bool:  # noqa: ANN001
    """The view has applied its range (pyqtgraph does so once it paints): the centre of (y, x) is in the
    viewport and maps back to that pixel."""
    where = on_screen(maps, channel, y, x)
    point = maps.item.mapFromScene(maps.mapToScene(where))
    return maps.viewport().rect().contains(where) and maps.locate(point.x(), point.y()) == (channel, y, x)


def test_a_frame_draws_the_maps_strip_title_input_chain_and_filters(panel, fake, frame_of, qtbot):
    result = frame_of(7, "conv1")
    fake.show(result)
    assert panel.strip.names == [s.name for s in result.stages]
    assert panel.strip.cards["conv1"].styleSheet().count(SELECTED) == 1
    assert all(panel.strip.cards[n].styleSheet().count(SELECTED) == 0 for n in panel.strip.names if n != "conv1")
    assert panel.maps_title.text() == "conv1 [conv] 6x28x28"
    assert np.array_equal(panel.maps.item.image, result.mosaic)
    assert np.array_equal(panel.input_view.item.image, result.input_rgbx)
    assert panel.chain.title.text() == "Channel 0 through its block"
    assert [c.text() for _i, c in panel.chain.cells] == ["conv1", "relu1", "pool1"]
    assert panel.filters.title.text().startswith("Filters of conv1: weights ")
    assert not panel.strip.cards["conv2"].thumb.pixmap().isNull()  # the details: every card's thumbnail
    # the pixels on screen are the mosaic's: the centre of a few map pixels of a few tiles
    qtbot.waitUntil(lambda: shows(panel.maps, 5, 27, 27), timeout=WAIT)
    picture = panel.maps.grab().toImage()
    for channel, y, x in ((0, 0, 0), (2, 14, 9), (5, 27, 27), (4, 20, 3)):
        x0, y0 = result.layout.tile_origin(channel)
        want = QColor(*map(int, result.mosaic[y0 + y, x0 + x, :3]))
        assert picture.pixelColor(on_screen(panel.maps, channel, y, x)) == want


def test_another_stage_keeps_the_cards_and_moves_the_highlight(panel, fake, frame_of):
    fake.show(frame_of(3, "conv1"))
    cards = dict(panel.strip.cards)
    fake.show(frame_of(3, "pool2", detail=False))  # the maps come first: the highlight moves with them
    assert panel.strip.cards == cards  # (the same model: the cards are not built again)
    assert panel.strip.cards["pool2"].styleSheet().count(SELECTED) == 1
    assert panel.strip.cards["conv1"].styleSheet().count(SELECTED) == 0
    assert panel.maps_title.text().startswith("pool2 [pool] 16x5x5")
    assert panel.chain.title.text() == "Channel 0 through its block"  # (the secondary views wait for the details)
    assert [c.text() for _i, c in panel.chain.cells] == ["conv1", "relu1", "pool1"]
    fake.show(frame_of(3, "pool2"))
    assert [c.text() for _i, c in panel.chain.cells] == ["conv2", "relu2", "pool2"]
    assert panel.filters.title.text().startswith("Filters of conv2")


def test_dead_channels_are_flagged_on_the_maps(panel, fake, frame_of):
    result = frame_of(None, "relu2")  # an empty canvas: many rectified maps are zero everywhere
    fake.show(result)
    health = result.health
    assert health is not None and health.dead
    shown = [f for f in panel.maps.flags if f.isVisible()]
    assert len(shown) == len(health.dead) and f"{len(health.dead)} dead" in panel.maps_title.text()


def test_clicking_a_strip_card_asks_for_its_stage(panel, fake, frame_of, qtbot):
    fake.show(frame_of(7, "conv1"))
    qtbot.mouseClick(panel.strip.cards["pool2"], Qt.MouseButton.LeftButton)
    assert fake.called("select_stage") == [("pool2",)]
    bar = panel.strip.horizontalScrollBar()
    panel.strip.setFixedWidth(200)
    qtbot.waitUntil(lambda: bar.maximum() > 0, timeout=WAIT)
    bar.setValue(bar.maximum())  # other cards came into view: they need thumbnails
    assert ({"detail": True},) in fake.called("refresh")


def test_clicking_a_tile_enlarges_it_and_asks_for_its_channel(panel, fake, frame_of, qtbot):
    fake.show(frame_of(2, "conv1"))
    qtbot.waitUntil(lambda: shows(panel.maps, 3, 14, 14), timeout=WAIT)
    qtbot.mouseClick(panel.maps.viewport(), Qt.MouseButton.LeftButton, pos=on_screen(panel.maps, 3, 14, 14))
    assert fake.called("select_channel") == [(3,)] and panel.maps.enlarged == 3
    fake.show(frame_of(2, "conv1", channel=3))
    assert panel.maps.item.image.shape[:2] == (28, 28)  # the one tile, enlarged
    assert "channel 3 (click to go back)" in panel.maps_title.text()
    assert panel.chain.title.text() == "Channel 3 through its block"
    qtbot.waitUntil(lambda: shows(panel.maps, 3, 14, 14), timeout=WAIT)
    qtbot.mouseClick(panel.maps.viewport(), Qt.MouseButton.LeftButton, pos=on_screen(panel.maps, 3, 14, 14))
    assert fake.called("select_channel")[-1] == (-1,) and panel.maps.enlarged is None  # back to every tile


def test_hovering_a_feature_map_pixel_outlines_its_receptive_field(panel, fake, frame_of, qtbot):
    fake.show(frame_of(7, "pool1"))
    channel, y, x = 4, 3, 4
    qtbot.waitUntil(lambda: shows(panel.maps, channel, y, x), timeout=WAIT)
    with qtbot.waitSignal(panel.maps.hovered, timeout=5000) as blocker:
        qtbot.mouseMove(panel.maps.viewport(), on_screen(panel.maps, channel, y, x))
    assert blocker.args == [channel, y, x]
    # pool1 (2x2, stride 2) after conv1 (5x5, padding 2): output (3, 4) sees input rows 4..9, cols 6..11
    assert panel.input_view.rect == (4, 6, 9, 11) and panel.input_view.field.isVisible()
    value = fake.last_frame.hover.value(channel, y, x)
    assert "pool1" in panel.arithmetic.text() and f"{value:.4f}" in panel.arithmetic.text()
    assert panel.arithmetic.last is None  # (a pool has no arithmetic: its value is shown)
    panel.maps.left.emit()  # the pointer left the maps: the outline goes
    assert not panel.input_view.field.isVisible()


def test_hovering_a_conv_pixel_shows_the_arithmetic(panel, fake, frame_of):
    fake.show(frame_of(4, "conv2"))
    panel.maps.hovered.emit(5, 2, 3)
    arithmetic = panel.arithmetic.last
    assert arithmetic is not None and arithmetic.patches.shape == (6, 5, 5)
    assert arithmetic.value == pytest.approx(float(fake.last_frame.hover.values[5, 2, 3]), abs=1e-4)
    assert f"{arithmetic.value:.4f}" in panel.arithmetic.text() and "conv2" in panel.arithmetic.text()
    # conv2 (2, 3) reads pool1 rows 2..6, cols 3..7 -> conv1 rows 4..13, cols 6..15 -> input (5x5, pad 2)
    assert panel.input_view.rect == (2, 4, 15, 17)


def test_presenter_mode_gives_the_maps_the_room(panel, fake, frame_of):
    fake.show(frame_of(7, "conv1"))
    fake.change(presenter=True)
    assert not panel.arithmetic.isVisible() and not panel.chain.isVisible() and not panel.filters.isVisible()
    assert panel.input_view.isVisible() and panel.input_view.field.pen().width() == 5
    fake.change(presenter=False)
    assert panel.arithmetic.isVisible() and panel.filters.isVisible() and panel.input_view.field.pen().width() == 2


# ---- with the real controller -------------------------------------------------------------------------
def network(controller):  # noqa: ANN001, ANN201
    from cnnviz.qt.panels.network_panel import NetworkPanel

    return NetworkPanel(controller)


def test_the_strip_highlight_moves_with_the_maps_before_the_thumbnails_come(live, qtbot, monkeypatch):
    """The maps come back first (early) and the strip highlight moves with them; the secondary views follow
    once the rest of the frame is made (held back here until the test has looked)."""
    import cnnviz.core.engine.frame as frame

    controller, (view,) = live(network)
    controller.set_input("draw", render(demo_digit(3)))
    qtbot.waitUntil(lambda: controller.is_idle() and controller.last_frame.detail, timeout=WAIT)
    real, go = frame.stage_thumbnails, threading.Event()

    def held_back(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202 - on the worker, after the early maps
        go.wait(WAIT / 1000)
        return real(*args, **kwargs)

    monkeypatch.setattr(frame, "stage_thumbnails", held_back)  # (the secondary views wait until the test has looked)
    try:
        with qtbot.waitSignal(controller.frame_shown, timeout=WAIT,
                              check_params_cb=lambda r: r.selected == "pool2" and not r.detail):
            controller.select_stage("pool2")
        assert view.maps_title.text().startswith("pool2")
        assert view.strip.cards["pool2"].styleSheet().count(SELECTED) == 1  # highlighted with the early maps
        assert view.strip.cards["conv1"].styleSheet().count(SELECTED) == 0
        assert [c.text() for _i, c in view.chain.cells] == ["conv1", "relu1", "pool1"]  # not yet
    finally:
        go.set()
    qtbot.waitUntil(lambda: controller.last_frame.detail, timeout=WAIT)  # then the secondary views follow
    assert [c.text() for _i, c in view.chain.cells] == ["conv2", "relu2", "pool2"]


def test_a_clicked_tile_is_followed_through_its_block(live, qtbot):
    controller, (view,) = live(network)
    controller.set_input("draw", render(demo_digit(2)))
    qtbot.waitUntil(lambda: controller.is_idle() and controller.last_frame.detail, timeout=WAIT)
    # (the maps and bars come first, early; the chain follows in the same input's detail result)
    with qtbot.waitSignal(controller.details_ready, timeout=WAIT, check_params_cb=lambda r: r.channel == 3):
        qtbot.waitUntil(lambda: shows(view.maps, 3, 14, 14), timeout=WAIT)
        qtbot.mouseClick(view.maps.viewport(), Qt.MouseButton.LeftButton, pos=on_screen(view.maps, 3, 14, 14))
    assert controller.state.channel == 3 and view.maps.enlarged == 3
    assert view.maps.item.image.shape[:2] == (28, 28)
    assert view.chain.title.text() == "Channel 3 through its block"


def test_only_strip_cards_on_screen_get_thumbnails_and_scrolling_fills_the_others(live, qtbot):
    """Only stages on screen need pixels. A narrow strip shows part of the network."""
    def narrow(controller):  # noqa: ANN001, ANN202
        view = network(controller)
        view.strip.setFixedWidth(320)
        return view

    controller, (view,) = live(narrow)
    with qtbot.waitSignal(controller.details_ready, timeout=WAIT):
        controller.set_input("draw", render(demo_digit(4)), select=True)
    qtbot.waitUntil(lambda: view.strip.visible_names() is not None, timeout=WAIT)
    visible = view.strip.visible_names()
    names = view.strip.names
    assert 0 < len(visible) < len(names) and names[0] in visible and names[-1] not in visible
    qtbot.waitUntil(controller.is_idle, timeout=WAIT)
    with qtbot.waitSignal(controller.details_ready, timeout=WAIT):
        controller.refresh(detail=True)
    assert set(controller.last_frame.thumbnails) == set(visible)

    bar = view.strip.horizontalScrollBar()
    with qtbot.waitSignal(controller.details_ready, timeout=WAIT,
                          check_params_cb=lambda r: names[-1] in r.thumbnails):
        bar.setValue(bar.maximum())
    assert not view.strip.cards[names[-1]].thumb.pixmap().isNull()
