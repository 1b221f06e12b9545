"""The one worker thread: model loading and forward passes, latest input wins.

The GUI posts requests into a one-slot mailbox; a request that arrives while the
worker is busy replaces any request still waiting, so the display is never more than
one update behind the input. Results come back by a queued signal carrying the stamp of
the input that produced them.
"""

from __future__ import annotations

import threading
import traceback
from dataclasses import dataclass

from PySide6.QtCore import QObject, QThread, Signal, Slot

from cnnviz.core.errors import CnnvizError
from cnnviz.core.frame import FrameRequest, FrameResult, process_frame


@dataclass(frozen=True)
class LoadRequest:
    name: str
    device: str = "auto"
    untrained: bool = False


class InferenceWorker(QObject):
    """Lives on its own QThread; never touched from the GUI thread except through ``submit``."""

    result_ready = Signal(object)  # FrameResult
    model_loaded = Signal(object, str)  # model, description
    failed = Signal(str)  # a sentence for the user
    _wake = Signal()

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._pending_frame: FrameRequest | None = None
        self._pending_load: LoadRequest | None = None
        self.dropped = 0
        self.model = None
        self._wake.connect(self._drain)

    def submit(self, request: FrameRequest | LoadRequest) -> None:
        """Thread-safe: store the latest request and wake the worker."""
        with self._lock:
            if isinstance(request, LoadRequest):
                self._pending_load = request
            else:
                if self._pending_frame is not None:
                    self.dropped += 1
                self._pending_frame = request
        self._wake.emit()

    @Slot()
    def _drain(self) -> None:
        while True:
            with self._lock:
                load, self._pending_load = self._pending_load, None
                frame = None if load else self._pending_frame
                if frame is not None:
                    self._pending_frame = None
            if load is not None:
                self._load(load)
                continue
            if frame is None:
                return
            self._run(frame)

    def _load(self, request: LoadRequest) -> None:
        from cnnviz.core.device import apply_thread_policy
        from cnnviz.core.model_io import load_model
        from cnnviz.core.zoo import spec_of

        try:
            model = load_model(request.name, request.device, pretrained=False if request.untrained else None)
            spec = spec_of(model)
            if next(model.parameters()).device.type == "cpu":
                apply_thread_policy(model, spec.input_shape)
        except CnnvizError as exc:
            self.failed.emit(str(exc))
            return
        except Exception as exc:  # noqa: BLE001 - the app must go on; the handler shows it
            self.failed.emit(f"Loading {request.name} failed unexpectedly: {exc}")
            traceback.print_exc()
            return
        self.model = model
        self.model_loaded.emit(model, spec.description or spec.name)

    def _run(self, request: FrameRequest) -> None:
        if self.model is None:
            return
        try:
            result: FrameResult = process_frame(self.model, request)
        except CnnvizError as exc:
            self.failed.emit(str(exc))
            return
        except Exception as exc:  # noqa: BLE001
            self.failed.emit(f"The forward pass failed: {exc}")
            traceback.print_exc()
            return
        self.result_ready.emit(result)


class WorkerThread:
    """Owns the QThread and the worker; ``stop`` joins it so nothing outlives the window."""

    def __init__(self) -> None:
        self.thread = QThread()
        self.thread.setObjectName("cnnviz-inference")
        self.worker = InferenceWorker()
        self.worker.moveToThread(self.thread)
        self.thread.start()

    def stop(self) -> None:
        self.thread.quit()
        self.thread.wait(5000)
