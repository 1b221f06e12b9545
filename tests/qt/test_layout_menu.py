"""View > Reset layout brings every panel back; Fit views brings the maps back into sight."""

from __future__ import annotations

import pytest

pytest.importorskip("PySide6")


def test_reset_layout_brings_every_panel_back(app, qtbot):
    window, network = app.window, app.network
    # the state the monkey left: the input panel squeezed away, the maps zoomed out of sight, a dock open
    window.splitter.setSizes([0, 1500])
    network.body.setSizes([0, 1000])
    network.maps.box.setRange(xRange=(10_000, 10_100), yRange=(10_000, 10_100), padding=0)
    app.snapshots.dock.show()
    window.show_view("train")
    reset = next(a for a in window.menu("&View").actions() if a.text() == "Reset layout")
    reset.trigger()
    assert all(size > 100 for size in window.splitter.sizes())
    assert all(size > 100 for size in network.body.sizes())
    assert app.inputs.isVisible() and network.maps.isVisible() and not app.snapshots.dock.isVisible()
    assert window.view_key == "network"
    (x0, x1), (y0, y1) = network.maps.box.viewRange()
    height, width = app.controller.last_frame.mosaic.shape[:2]
    assert x0 <= 0 and x1 >= width - 1 and y0 <= 0 and y1 >= height - 1  # the whole mosaic is in view


def test_panes_cannot_be_dragged_out_of_sight(app):
    app.window.splitter.setSizes([0, 1500])
    assert app.window.splitter.sizes()[0] > 0  # (a collapsed input panel was one of the monkey's dead ends)


def test_fit_views_and_the_snapshots_panel_are_in_the_view_menu(app):
    texts = [a.text() for a in app.window.menu("&View").actions()]
    assert "Fit views" in texts and "Snapshots panel" in texts
    app.network.maps.box.setRange(xRange=(5_000, 5_010), yRange=(5_000, 5_010), padding=0)
    next(a for a in app.window.menu("&View").actions() if a.text() == "Fit views").trigger()
    (x0, _x1), (y0, _y1) = app.network.maps.box.viewRange()
    assert x0 <= 0 and y0 <= 0
