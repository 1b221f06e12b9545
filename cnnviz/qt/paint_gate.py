"""The paint gate, on the GUI side (as napari's QtDims._set_frame skips a frame while the last one has
not painted): on the CPU the newest frame request waits here while a frame is on the worker or its
result is not painted yet (latest wins), so a paint and the next forward pass never share the two cores.

PySide6 holds the GIL through Qt's paint calls, so a forward pass that overlaps a paint stalls between
its ops. Flipped on and off inside one ResNet-18 bench run on the 2-core VM (when the gate sat in the
worker): p50 46.1 -> 43.3 ms, 1 % fewer updates. Checked again once the window no longer held the GIL
through its whole paint (cnnviz.qt.paint_watch): opening the gate when a result is handed to the views
instead of when it has painted made draw-lenet's p50 8.6 -> 9.9 ms (three interleaved rounds), since the
views' own paint methods are Python. Not on a GPU, where overlapping them is what lets the updates
outrun the paint.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from PySide6.QtCore import QObject, QTimer

from cnnviz.core.engine.frame import FrameRequest
from cnnviz.qt import cadence


class PaintGate(QObject):
    def __init__(self, submit: Callable[[FrameRequest], None], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._submit = submit
        self.enabled = False  # on while the model runs on the CPU
        self.held: FrameRequest | None = None
        self.in_flight = False  # a request is on the worker (its last result has not arrived)
        self.awaiting_paint = False  # a result was handed to the views and is not painted yet
        self.queued = False  # a result arrived and waits to be handed to the views
        self.dropped = 0  # requests replaced while they waited here
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(int(cadence.PAINT_WAIT_S * 1000))
        self._timer.timeout.connect(self._expired)

    def send(self, request: FrameRequest) -> None:
        if self._closed():
            if self.held is not None:
                self.dropped += 1
                if self.held.detail and not request.detail:  # never lose a refresh of the details
                    request = replace(request, detail=True, visible=self.held.visible)
            self.held = request
            return
        self.in_flight = True
        self._submit(request)

    def holding(self) -> bool:
        """Whether a newer request waits here (asked from the worker thread: a plain read, a hint)."""
        return self.held is not None

    def reset(self, enabled: bool) -> None:
        """A new model (on the CPU or not): nothing in flight, nothing held."""
        self.enabled = enabled
        self.held, self.in_flight, self.awaiting_paint, self.queued = None, False, False, False
        self._timer.stop()

    def _closed(self) -> bool:
        return self.enabled and (self.in_flight or self.awaiting_paint or self.queued)

    def _release(self) -> None:
        if self.held is not None and not self._closed():
            held, self.held = self.held, None
            self.in_flight = True
            self._submit(held)

    def done(self) -> None:
        """The worker has run the request (its results, if any, were sent before)."""
        self.in_flight = False
        self._release()

    def shown(self, handed: bool) -> None:
        """A result was taken from the queue; ``handed``: it was given to the views (not dropped)."""
        self.queued = False
        self.awaiting_paint = handed and self.enabled
        if self.awaiting_paint:
            self._timer.start()  # never wait for a paint for ever: a hidden window does not paint
        self._release()

    def painted(self) -> None:
        if self.awaiting_paint:
            self.awaiting_paint = False
            self._timer.stop()
            self._release()

    def _expired(self) -> None:
        self.awaiting_paint = False
        self._release()

    def stop(self) -> None:
        self._timer.stop()
