"""Recording a widget (the window or one panel) at a fixed rate, with a visible indicator.

Qt grabs the widget on the GUI thread (it must); encoding runs in cnnviz.core.teach.recording's
thread, and closing the file waits on a plain thread so the window never blocks.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtWidgets import QWidget

from cnnviz.core.teach.recording import Recorder
from cnnviz.qt.images import qimage_to_rgb


def grab_rgb(widget: QWidget) -> np.ndarray:
    """The widget as it looks now, as RGB uint8."""
    return qimage_to_rgb(widget.grab().toImage())


class WidgetRecorder(QObject):
    ticked = Signal(float)  # seconds recorded so far (drives the indicator)
    finished = Signal(str, int)  # path, frames
    failed = Signal(str)

    def __init__(self, fps: float = 10.0) -> None:
        super().__init__()
        self.fps = fps
        self.timer = QTimer(self)
        self.timer.setInterval(round(1000 / fps))
        self.timer.timeout.connect(self._grab)
        self.widget: QWidget | None = None
        self.recorder: Recorder | None = None
        self.started = 0.0
        self.skipped = 0

    @property
    def active(self) -> bool:
        return self.recorder is not None

    def start(self, widget: QWidget, path: str | Path) -> None:
        """Raises RecordingError (a sentence) when the file cannot be made."""
        self.recorder = Recorder(path, self.fps)
        self.widget = widget
        self.started = time.perf_counter()
        self.skipped = 0
        self.timer.start()
        self._grab()

    def _grab(self) -> None:
        if self.recorder is None or self.widget is None:
            return
        if not self.recorder.add(grab_rgb(self.widget)):
            self.skipped += 1
        self.ticked.emit(time.perf_counter() - self.started)

    def stop(self) -> None:
        recorder, self.recorder = self.recorder, None
        self.timer.stop()
        if recorder is None:
            return

        def finish() -> None:
            try:
                path = recorder.close()
            except Exception as exc:  # noqa: BLE001 - RecordingError or an OS error: a sentence for the user
                self.failed.emit(str(exc))
                return
            self.finished.emit(str(path), recorder.frames)

        threading.Thread(target=finish, name="cnnviz-recording-close", daemon=True).start()
