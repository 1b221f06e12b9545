"""Live frames from a webcam (or a video file) through OpenCV, on their own thread.

Frames arrive as fast as the camera gives them; the main window hands each one to the
worker's one-slot mailbox, so the network runs as fast as the model allows and stale
frames are dropped, as deep-visualization-toolbox did for Caffe.
"""

from __future__ import annotations

import os

import cv2
import numpy as np
from PySide6.QtCore import QThread, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QSpinBox, QVBoxLayout, QWidget


class CameraThread(QThread):
    frame_ready = Signal(object)  # RGB uint8
    failed = Signal(str)

    def __init__(self, source: int | str = 0) -> None:
        super().__init__()
        self.source = source
        self._running = True

    def stop(self) -> None:
        self._running = False
        self.wait(3000)

    def run(self) -> None:
        if os.environ.get("CNNVIZ_DEBUG", "") in ("", "0"):
            # OpenCV's video back-ends print a warning per back-end tried when there is no camera; the
            # user gets one sentence of cnnviz's instead (all of it with --debug)
            cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
        capture = cv2.VideoCapture(self.source)
        if not capture.isOpened():
            what = f"camera {self.source}" if isinstance(self.source, int) else str(self.source)
            self.failed.emit(f"No picture from {what}: connect a webcam (or choose another camera number) "
                             f"and press Start again.")
            return
        misses = 0
        try:
            while self._running:
                ok, frame = capture.read()
                if not ok:
                    misses += 1
                    if misses > 20:
                        if isinstance(self.source, str):  # a video file: play it in a loop
                            capture.set(cv2.CAP_PROP_POS_FRAMES, 0)
                            misses = 0
                            continue
                        self.failed.emit("The camera stopped sending pictures.")
                        return
                    self.msleep(10)
                    continue
                misses = 0
                self.frame_ready.emit(np.ascontiguousarray(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)))
                if isinstance(self.source, str):
                    self.msleep(30)
        finally:
            capture.release()


class CameraPanel(QWidget):
    frame_ready = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.thread: CameraThread | None = None
        self.index = QSpinBox()
        self.index.setRange(0, 9)
        self.index.setToolTip("Which camera: 0 is the first one.")
        self.button = QPushButton("Start")
        self.button.setToolTip("Start or stop the live camera.")
        self.button.clicked.connect(self.toggle)
        self.status = QLabel("Press Start to feed the camera into the network.")
        self.status.setWordWrap(True)
        self.frames = 0
        row = QHBoxLayout()
        row.addWidget(QLabel("Camera"))
        row.addWidget(self.index)
        row.addWidget(self.button)
        layout = QVBoxLayout(self)
        layout.addLayout(row)
        layout.addWidget(self.status)
        layout.addStretch(1)

    def toggle(self) -> None:
        if self.thread is not None:
            self.stop()
        else:
            self.start(self.index.value())

    def start(self, source: int | str) -> None:
        self.stop()
        self.frames = 0
        self.thread = CameraThread(source)
        self.thread.frame_ready.connect(self._frame)
        self.thread.failed.connect(self._failed)
        self.thread.start()
        self.button.setText("Stop")
        self.status.setText("Starting the camera...")

    def stop(self) -> None:
        if self.thread is not None:
            self.thread.stop()
            self.thread = None
        self.button.setText("Start")

    def _frame(self, frame: np.ndarray) -> None:
        self.frames += 1
        if self.frames == 1:
            self.status.setText(f"Live: {frame.shape[1]}x{frame.shape[0]} frames.")
        self.frame_ready.emit(frame)

    def _failed(self, message: str) -> None:
        self.status.setText(message)
        self.stop()
