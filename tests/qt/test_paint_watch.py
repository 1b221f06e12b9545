"""The paint watch: a paint is reported after it happened, once per arming, and the main window keeps
no Python ``event()`` override (one held the GIL through every paint of the window)."""

from __future__ import annotations

import pytest

pytest.importorskip("PySide6")

from PySide6.QtGui import QPaintEvent  # noqa: E402
from PySide6.QtWidgets import QApplication, QWidget  # noqa: E402

WAIT = 60_000


class Probe(QWidget):
    def __init__(self, parent: QWidget, order: list[str]) -> None:
        super().__init__(parent)
        self.order = order

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802
        self.order.append("paint")


def test_the_paint_is_reported_after_it_happened_and_once_per_arming(qtbot):
    from cnnviz.qt.paint_watch import PaintWatch

    order: list[str] = []
    top = QWidget()
    probe = Probe(top, order)
    probe.resize(40, 40)
    qtbot.addWidget(top)
    top.show()
    qtbot.waitExposed(top)
    watch = PaintWatch(top, lambda: order.append("painted"))
    qtbot.waitUntil(lambda: "paint" in order, timeout=WAIT)  # the first show's paint, before the test
    order.clear()
    watch.arm()
    probe.update()
    qtbot.waitUntil(lambda: "painted" in order, timeout=WAIT)
    assert order == ["paint", "painted"]
    probe.update()  # a later paint, not armed: nothing reported
    qtbot.waitUntil(lambda: order.count("paint") == 2, timeout=WAIT)
    for _ in range(3):
        QApplication.processEvents()
    assert order.count("painted") == 1


def test_the_main_window_has_no_python_event_override():
    """PySide6 holds the GIL through a Python ``event()``, so the window's whole paint, and each pen
    stroke's repaint, ran with the worker's forward pass locked out (see cnnviz.qt.paint_watch)."""
    from cnnviz.qt.main_window import MainWindow

    assert "event" not in vars(MainWindow)
