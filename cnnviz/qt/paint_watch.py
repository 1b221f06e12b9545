"""Tells when a top-level window has painted, from an event filter rather than an ``event()`` override.

A Python ``event()`` override on the main window makes every paint of the window run inside a Python
call: PySide6 holds the GIL there, so the C++ paint of the whole window (and every pen stroke's repaint
of the canvas, at 200 Hz) held it, and the worker's forward pass stalled between its ops. A filter only
looks at the event and returns; the paint itself then runs from the event loop, which has released the
GIL (only the widgets' own Python ``paintEvent`` methods take it). In a test with a Python thread
spinning beside a window repainting every 2 ms, that thread ran 21-23 M loop turns in 2 s with the
override, 41-54 M with a filter, and 50 M with neither.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtWidgets import QWidget


class PaintWatch(QObject):
    """Calls ``on_painted`` once after the window's next paint, each time it is armed."""

    def __init__(self, window: QWidget, on_painted: Callable[[], None]) -> None:
        super().__init__(window)
        self._on_painted = on_painted
        self.armed = False
        # a zero timer of its own, not QTimer.singleShot: it dies with the window, so a paint just before
        # the window is deleted never reports to a deleted window
        self._after = QTimer(self)
        self._after.setSingleShot(True)
        self._after.setInterval(0)
        self._after.timeout.connect(self._fire)
        window.installEventFilter(self)

    def arm(self) -> None:
        """Something was handed to the views: report the paint that shows it."""
        self.armed = True

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt's name)
        if self.armed and event.type() == QEvent.Type.UpdateRequest:
            self.armed = False
            self._after.start()  # the window paints when this event goes on; a zero timer runs once it has
        return False

    def _fire(self) -> None:
        self._on_painted()
