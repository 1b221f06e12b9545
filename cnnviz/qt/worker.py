"""The one worker thread: model loading and forward passes, latest input wins.

The GUI posts requests into a one-slot mailbox; a request that arrives while the
worker is busy replaces any request still waiting, so the display is never more than
one update behind the input. Results come back by a queued signal carrying the stamp of
the input that produced them.
"""

from __future__ import annotations

import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, replace

import torch
from PySide6.QtCore import QObject, QThread, Signal, Slot

from cnnviz.core.errors import CnnvizError, UntrustedFileError
from cnnviz.core.frame import FrameRequest, FrameResult, process_frame
from cnnviz.core.kernel_lab import LabRequest, run_lab
from cnnviz.core.surgery import FilterEdit, Surgeon

#: Longest the secondary views wait for a frame with no newer input behind it (see InferenceWorker._details_now).
DETAIL_OVERDUE_S = 0.5
#: Longest the worker waits for the window to paint a frame's result before it starts the next forward pass.
PAINT_WAIT_S = 0.05


@dataclass(frozen=True)
class LoadRequest:
    name: str
    device: str = "auto"
    untrained: bool = False
    trust: bool = False


@dataclass(frozen=True)
class EditRequest:
    """Put a kernel into a filter of the loaded model (``edit``), or reset to the trained weights (None)."""

    edit: FilterEdit | None


@dataclass(frozen=True)
class JobRequest:
    """Any other slow work (a dataset load, a scan over samples): ``fn(model)`` runs on the worker."""

    tag: str
    fn: Callable[[object], object]


class InferenceWorker(QObject):
    """Lives on its own QThread; never touched from the GUI thread except through ``submit``."""

    result_ready = Signal(object)  # FrameResult
    model_loaded = Signal(object, str)  # model, description
    failed = Signal(str)  # a sentence for the user
    untrusted = Signal(str, str)  # path, message: the GUI asks the user before retrying with trust
    job_done = Signal(str, object)  # tag, result
    loading = Signal(str)  # name of the model being loaded
    lab_ready = Signal(object)  # LabResult
    edited = Signal(bool)  # whether the model now differs from its trained weights
    fell_back = Signal(str)  # the device the model moved to after running out of memory
    _wake = Signal()

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._pending_frame: FrameRequest | None = None
        self._pending_load: LoadRequest | None = None
        self._jobs: list[JobRequest] = []
        self._edits: list[EditRequest] = []
        self._pending_lab: LabRequest | None = None
        self.surgeon: Surgeon | None = None
        self.dropped = 0  # frame requests replaced before they ran (latest wins)
        self.dropped_lab = 0
        self.model = None
        self._last_detail = 0.0  # when a frame last refreshed the secondary views
        self._painted = threading.Event()  # set by the window once it has painted the last frame result
        self._wake.connect(self._drain)

    def submit(self, request: FrameRequest | LoadRequest | JobRequest | EditRequest | LabRequest) -> None:
        """Thread-safe: store the latest request and wake the worker."""
        with self._lock:
            if isinstance(request, EditRequest):
                self._edits.append(request)
            elif isinstance(request, LabRequest):
                if self._pending_lab is not None:
                    self.dropped_lab += 1
                self._pending_lab = request
            elif isinstance(request, JobRequest):
                self._jobs = [j for j in self._jobs if j.tag != request.tag] + [request]
            elif isinstance(request, LoadRequest):
                self._pending_load = request
            else:
                replaced = self._pending_frame
                if replaced is not None:
                    self.dropped += 1
                    if replaced.detail and not request.detail:  # never lose a pending refresh of the details
                        request = replace(request, detail=True, visible=replaced.visible)
                self._pending_frame = request
        self._wake.emit()

    @Slot()
    def _drain(self) -> None:
        while True:
            with self._lock:
                load, self._pending_load = self._pending_load, None
                edit = self._edits.pop(0) if (load is None and self._edits) else None
                job = self._jobs.pop(0) if (load is None and edit is None and self._jobs) else None
                busy = load or edit or job
                lab = None if busy else self._pending_lab
                frame = None if busy else self._pending_frame
                if lab is not None:
                    self._pending_lab = None
                if frame is not None:
                    self._pending_frame = None
            if load is not None:
                self._load(load)
                continue
            if edit is not None:
                self._edit(edit)
                continue
            if lab is not None:
                self._lab(lab)
            if job is not None:
                self._job(job)
                continue
            if frame is None:
                return
            self._run(frame)

    def _load(self, request: LoadRequest) -> None:
        from cnnviz.core.device import apply_thread_policy
        from cnnviz.core.inference import warm_up
        from cnnviz.core.model_io import load_model
        from cnnviz.core.zoo import spec_of

        self.loading.emit(request.name)
        try:
            model = load_model(request.name, request.device, pretrained=False if request.untrained else None,
                               trust=request.trust)
            spec = spec_of(model)
            if next(model.parameters()).device.type == "cpu":
                apply_thread_policy(model, spec.input_shape)
            try:
                warm_up(model)
            except Exception:  # noqa: BLE001 - the first real frame reports what is wrong, in words
                pass
        except UntrustedFileError as exc:
            self.untrusted.emit(request.name, str(exc))
            return
        except CnnvizError as exc:
            self.failed.emit(str(exc))
            return
        except Exception as exc:  # noqa: BLE001 - the app must go on; the handler shows it
            self.failed.emit(f"Loading {request.name} failed unexpectedly: {exc}")
            traceback.print_exc()
            return
        self.model = model
        self.surgeon = Surgeon(model)
        self.model_loaded.emit(model, spec.description or spec.name)
        self.edited.emit(False)

    def _guarded(self, what: str, work: Callable[[], object]) -> object | None:
        """Run ``work``; a CnnvizError becomes its sentence, anything else a report, and the worker goes on."""
        try:
            return work()
        except CnnvizError as exc:
            self.failed.emit(str(exc))
        except Exception as exc:  # noqa: BLE001 - the app must go on; the traceback goes to the log
            self.failed.emit(f"{what} failed: {exc}")
            traceback.print_exc()
        return None

    def _edit(self, request: EditRequest) -> None:
        surgeon = self.surgeon
        if surgeon is None:
            return

        def work() -> bool:
            if request.edit is None:
                surgeon.reset()
            else:
                surgeon.apply(request.edit)
            return True

        if self._guarded("Editing the filter", work):
            self.edited.emit(surgeon.edited)

    def _lab(self, request: LabRequest) -> None:
        result = self._guarded("The kernel lab", lambda: run_lab(request))
        if result is not None:
            self.lab_ready.emit(result)

    def _fall_back_to_cpu(self, request: FrameRequest) -> FrameResult:
        """Out of GPU memory: move the model to the CPU, say so, and run the frame again there."""
        self.model.to("cpu")
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        self.failed.emit("The GPU ran out of memory, so the model now runs on the CPU (slower). "
                         "Choose a smaller model or input to use the GPU again.")
        self.fell_back.emit("cpu")
        return self._frame(request)

    def _frame(self, request: FrameRequest) -> FrameResult:
        return process_frame(self.model, request, self.surgeon, lambda: self._details_now(request),
                             early=self.result_ready.emit)

    def _job(self, job: JobRequest) -> None:
        boxed = self._guarded(job.tag, lambda: [job.fn(self.model)])  # boxed: a job may return None
        if boxed is not None:
            self.job_done.emit(job.tag, boxed[0])

    def _run(self, request: FrameRequest) -> None:
        if self.model is None:
            return

        def frame() -> FrameResult:
            try:
                return self._frame(request)
            except torch.OutOfMemoryError:
                return self._fall_back_to_cpu(request)

        result = self._guarded("The forward pass", frame)
        if result is not None:
            self._painted.clear()
            self.result_ready.emit(result)
            self._gate_on_paint()

    def painted(self) -> None:
        """Thread-safe: the window has painted the last frame result it was given."""
        self._painted.set()

    def _gate_on_paint(self) -> bool:
        """Wait (at most PAINT_WAIT_S) for the window to paint this result before the next forward.

        The paint and the next forward would otherwise share the two cores, and PySide6 holds the GIL
        through Qt's paint calls, so the forward stalls between its ops; painting first and then taking
        the newest input (which may have arrived meanwhile) shows each input sooner. Flipped on and off
        inside one ResNet-18 bench run on the 2-core VM: p50 46.1 -> 43.3 ms, p95 58.4 -> 55.4 ms, 1 %
        fewer updates. Not on a GPU, where the forward hardly uses the cores and overlapping it with the
        paint is what lets the updates outrun the paint (unmeasured there: no GPU was lent)."""
        parameter = next(self.model.parameters(), None) if self.model is not None else None
        if parameter is None or parameter.device.type != "cpu":
            return True
        return self._painted.wait(PAINT_WAIT_S)

    def _details_now(self, request: FrameRequest) -> bool:
        """Asked once a detail frame's forward pass is done: while newer input already waits, the
        secondary views' refresh moves on to it (at most DETAIL_OVERDUE_S late), so on a slow
        model every frame goes to the maps and bars the user is watching, and the strip, chain
        and filters still refresh a few times a second. When input stops, the last frame carries
        them (and the window asks once more)."""
        now = time.perf_counter()
        with self._lock:
            newer = self._pending_frame
            if newer is not None and now - self._last_detail < DETAIL_OVERDUE_S:
                if not newer.detail:
                    self._pending_frame = replace(newer, detail=True, visible=request.visible)
                return False
        self._last_detail = now
        return True


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
