"""Recording the window or a panel to an animated GIF (Pillow) or an MP4 (OpenCV's VideoWriter).

Frames arrive from the GUI at a fixed rate; encoding happens on a background thread so the
window never waits for the encoder. Every frame is resized to the first one's size (a
window resized while recording still gives a valid file).
"""

from __future__ import annotations

import queue
import threading
from pathlib import Path

import cv2
import numpy as np

from cnnviz.core.errors import CnnvizError

FORMATS = (".gif", ".mp4")
#: GIFs of a large window get big fast: frames wider than this are scaled down.
GIF_MAX_WIDTH = 960


class RecordingError(CnnvizError):
    """The recording could not be written."""


class Recorder:
    """``add(rgb)`` from any thread, ``close()`` to finish the file; ``frames`` counts what was written."""

    def __init__(self, path: str | Path, fps: float = 10.0) -> None:
        self.path = Path(path)
        if self.path.suffix.lower() not in FORMATS:
            raise RecordingError(f"Recordings are saved as {' or '.join(FORMATS)}, not '{self.path.suffix}'.")
        if not self.path.parent.is_dir():
            raise RecordingError(f"The folder {self.path.parent} does not exist.")
        self.fps = fps
        self.frames = 0
        self.error: str | None = None
        self._queue: queue.Queue[np.ndarray | None] = queue.Queue(maxsize=64)
        self._size: tuple[int, int] | None = None
        self._gif: list = []
        self._video: cv2.VideoWriter | None = None
        self._thread = threading.Thread(target=self._run, name="cnnviz-recorder", daemon=True)
        self._thread.start()

    @property
    def is_gif(self) -> bool:
        return self.path.suffix.lower() == ".gif"

    def add(self, rgb: np.ndarray) -> bool:
        """Queue a frame; False (the frame is skipped) when the encoder is behind."""
        try:
            self._queue.put_nowait(np.ascontiguousarray(rgb[..., :3]))
        except queue.Full:
            return False
        return True

    def close(self) -> Path:
        """Finish the file and return its path; raises RecordingError with a sentence on failure."""
        self._queue.put(None)
        self._thread.join()
        if self.error:
            raise RecordingError(self.error)
        if self.frames == 0:
            raise RecordingError("Nothing was recorded (no frame arrived).")
        return self.path

    def _fit(self, rgb: np.ndarray) -> np.ndarray:
        if self._size is None:
            height, width = rgb.shape[:2]
            if self.is_gif and width > GIF_MAX_WIDTH:
                height, width = round(height * GIF_MAX_WIDTH / width), GIF_MAX_WIDTH
            width, height = width - width % 2, height - height % 2  # MP4 codecs want even sizes
            self._size = (max(2, width), max(2, height))
        if rgb.shape[1::-1] != self._size:
            rgb = cv2.resize(rgb, self._size, interpolation=cv2.INTER_AREA)
        return rgb

    def _run(self) -> None:
        while True:
            rgb = self._queue.get()
            if rgb is None:
                break
            if self.error:
                continue
            try:
                self._write(self._fit(rgb))
                self.frames += 1
            except Exception as exc:  # noqa: BLE001 - reported by close() as a sentence
                self.error = f"Writing {self.path.name} failed: {exc}"
        try:
            self._finish()
        except Exception as exc:  # noqa: BLE001
            self.error = f"Finishing {self.path.name} failed: {exc}"

    def _write(self, rgb: np.ndarray) -> None:
        if self.is_gif:
            from PIL import Image

            self._gif.append(Image.fromarray(rgb).quantize(colors=255, method=Image.Quantize.FASTOCTREE))
            return
        if self._video is None:
            size = (rgb.shape[1], rgb.shape[0])  # _fit made every frame this size
            self._video = cv2.VideoWriter(str(self.path), cv2.VideoWriter.fourcc(*"mp4v"), self.fps, size)
            if not self._video.isOpened():
                raise RecordingError("OpenCV has no MP4 encoder here; record a GIF instead.")
        self._video.write(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))

    def _finish(self) -> None:
        if self._video is not None:
            self._video.release()
        if self.is_gif and self._gif:
            temp = self.path.with_name(f".{self.path.name}.tmp")
            self._gif[0].save(temp, format="GIF", save_all=True, append_images=self._gif[1:],
                              duration=round(1000 / self.fps), loop=0, optimize=False)
            temp.replace(self.path)
            self._gif.clear()
