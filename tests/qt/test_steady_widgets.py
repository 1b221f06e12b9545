"""Readout and Picture: widgets whose new text or picture repaints them alone, without a new layout.

Every QLabel.setText/setPixmap (on a label whose size is not fixed) makes Qt re-lay out every
layout up to the window, and a QTabWidget on the way repaints all it holds. These tests count
the layout requests that reach the widgets' parents and the main window.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("PySide6")

from PySide6.QtCore import QEvent, QObject, QPoint, QSize  # noqa: E402
from PySide6.QtGui import QColor, QFont, QPixmap  # noqa: E402
from PySide6.QtWidgets import QApplication, QLabel, QVBoxLayout, QWidget  # noqa: E402

from cnnviz.qt.widgets.picture import Picture  # noqa: E402
from cnnviz.qt.widgets.readout import Readout  # noqa: E402

WAIT = 60_000


class LayoutRequests(QObject):
    """Counts the LayoutRequest events delivered to the watched widgets."""

    def __init__(self, *widgets: QWidget) -> None:
        super().__init__()
        self.count = 0
        for widget in widgets:
            widget.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt's name
        if event.type() == QEvent.Type.LayoutRequest:
            self.count += 1

        return False


def settle() -> None:
    for _ in range(3):
        QApplication.processEvents()


def boxed(widget: QWidget, qtbot) -> tuple[QWidget, LayoutRequests]:  # noqa: ANN001
    parent = QWidget()
    QVBoxLayout(parent).addWidget(widget)
    qtbot.addWidget(parent)
    parent.resize(300, 200)
    parent.show()
    settle()
    return parent, LayoutRequests(parent)


@pytest.mark.parametrize("make", [QLabel, Readout], ids=["QLabel", "Readout"])
def test_a_new_reading_re_lays_out_only_a_label(make, qtbot):
    widget = make("forward 10.0 ms")
    _, requests = boxed(widget, qtbot)
    for ms in (11.2, 9.8, 12.5):
        widget.setText(f"forward {ms:.1f} ms")
        settle()
    assert widget.text() == "forward 12.5 ms"
    # (the check itself: a QLabel asks for a layout with every text, which is what Readout is for)
    assert (requests.count > 0) == (make is QLabel)


def test_a_readout_asks_for_room_only_when_its_text_grows_wider_than_ever(qtbot):
    readout = Readout("short")
    _, requests = boxed(readout, qtbot)
    readout.setText("a much longer reading than before")
    settle()
    assert requests.count == 1 and readout.sizeHint().width() >= readout.fontMetrics().horizontalAdvance(readout.text())
    assert readout.minimumSizeHint() == readout.sizeHint()  # (not an elide readout: a title is never cut short)
    readout.setText("short")
    readout.setText("a much longer reading than befor")
    settle()
    assert requests.count == 1


def test_a_readout_elides_what_does_not_fit_and_grows_with_the_font(qtbot):
    readout = Readout("x" * 200, elide=True)
    parent, _ = boxed(readout, qtbot)
    parent.resize(120, 60)
    settle()
    assert readout.elided() and readout.width() < 130
    picture = readout.grab().toImage()
    assert any(picture.pixelColor(x, picture.height() // 2) != picture.pixelColor(0, 0)
               for x in range(picture.width()))  # something was drawn
    height = readout.sizeHint().height()
    font = QFont(readout.font())
    font.setPointSizeF(font.pointSizeF() * 2)
    readout.setFont(font)
    assert readout.sizeHint().height() > height * 1.5  # presenter mode: a taller line


def test_a_new_picture_of_any_size_re_lays_nothing_out_and_keeps_its_shape(qtbot):
    picture = Picture(QSize(120, 120), max_side=150)
    parent, requests = boxed(picture, qtbot)
    parent.resize(400, 300)
    settle()
    for width, height in ((10, 10), (40, 20), (7, 3)):
        pixmap = QPixmap(width, height)
        pixmap.fill(QColor(200, 30, 30))
        picture.set_pixmap(pixmap)
        settle()
    assert requests.count == 0
    target = picture.target()
    assert target.width() == 150 and abs(target.height() - 150 * 3 / 7) <= 1  # as large as fits, capped, in shape
    assert abs(target.center().x() - picture.width() / 2) <= 1  # centred
    grabbed = picture.grab().toImage()
    assert grabbed.pixelColor(target.center()) == QColor(200, 30, 30)
    assert grabbed.pixelColor(QPoint(target.left() - 2, target.center().y())) != QColor(200, 30, 30)
    picture.set_pixmap(None)
    assert picture.target().isEmpty()


def test_live_updates_never_re_lay_out_the_tabs(app, qtbot):
    """Maps, bars, chain, filters and the kernel lab change with every input; none of them may make
    the tab widget that holds them re-lay itself out (and so repaint all it holds)."""
    window, controller, network = app.window, app.controller, app.network
    with qtbot.waitSignal(window.result_painted, timeout=WAIT):
        app.inputs.draw_demo(3)
    settle()
    requests = LayoutRequests(window.views)
    for _round in range(2):  # (the second time round, every reading has been shown once: nothing grows)
        requests.count = 0
        for digit in (5, 8, 2, 0):
            with qtbot.waitSignal(window.result_painted, timeout=WAIT, check_params_cb=lambda r: r.detail):
                app.inputs.draw_demo(digit)
                controller.refresh(detail=True)  # the chain, filters and strip change too
            settle()
    assert network.filters.image.pixmap().width() > 0 and network.chain.title.text()
    assert requests.count <= 1, requests.count  # (as below)

    lab = app.lab
    with qtbot.waitSignal(controller.lab_ready, timeout=WAIT):
        window.show_view("lab")
    settle()
    for _round in range(2):
        requests.count = 0
        for i in range(6):
            with qtbot.waitSignal(controller.lab_ready, timeout=WAIT):
                assert lab.grid.set_cell_text(i % 3, 1, f"{np.sin(i):.3f}")
            settle()
    # (a QLabel: one with every edit; a readout: only if a timing needs a digit more than ever before)
    assert requests.count <= 1, requests.count
    assert "kernel(s)" in lab.info.text()
