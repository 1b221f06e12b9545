"""The one worker thread: model loading, forward passes and every other slow job, latest input wins.

The controller posts requests into one-slot mailboxes; a frame (or lab) request that arrives while the
worker is busy replaces the one still waiting, so the display is never more than one update behind
the input. Results come back by queued signals carrying the stamp of the input that produced them;
a job's result goes back to the job's own callback (the controller calls it on the GUI thread).
"""

from __future__ import annotations

import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from itertools import count

import torch
from PySide6.QtCore import QObject, QThread, Signal, Slot

from cnnviz.core.engine.frame import FrameRequest, FrameResult, process_frame
from cnnviz.core.errors import CnnvizError, UntrustedFileError, WeightsUnavailableError
from cnnviz.core.lab.kernel_lab import LabRequest, run_lab
from cnnviz.core.lab.surgery import FilterEdit, Surgeon, trained_weights
from cnnviz.core.models.options import ModelOptions
from cnnviz.qt.cadence import hand_details_on

_job_ids = count(1)
#: How long the worker, out of work, waits for more before it goes back to its thread's event loop. A
#: request that comes within it starts at once; woken through the loop instead (a queued signal, then
#: the GIL) it started 0.3-0.6 ms later, measured inside one draw-lenet bench run on the 2-core VM
#: (the submit-to-start median 0.34-0.62 -> 0.11-0.18 ms), while the paint gate holds the next input
#: for the window's paint, which is when the next request comes.
LINGER_S = 0.05


@dataclass(frozen=True)
class LoadRequest:
    """A model to load: by name (with ``options`` for a user's network), or ``live``, a copy of a module
    handed over from Python (cnnviz.view), already made ready by core and only moved to the device here."""

    name: str
    device: str = "auto"
    untrained: bool = False
    trust: bool = False
    options: ModelOptions = field(default_factory=ModelOptions)
    live: torch.nn.Module | None = field(default=None, compare=False)
    live_args: tuple[tuple[str, object], ...] = ()  # input_shape, class_names, mean, std for ``live``


@dataclass(frozen=True)
class EditRequest:
    """Put a kernel into a filter of the loaded model (``edit``), or reset to the trained weights (None)."""

    edit: FilterEdit | None


@dataclass(frozen=True)
class Loaded:
    """What a job sees of the worker: the model and its surgeon (None before a model has loaded)."""

    model: torch.nn.Module | None
    surgeon: Surgeon | None


@dataclass(frozen=True)
class Job:
    """Any other slow work: ``fn(loaded)`` runs on the worker; ``done(result)`` or ``failed(message)``
    then runs on the GUI thread. A newer job of the same ``kind`` replaces one still waiting."""

    kind: str
    fn: Callable[[Loaded], object]
    done: Callable[[object], None]
    failed: Callable[[str], None] | None = None
    id: int = field(default_factory=lambda: next(_job_ids))


class InferenceWorker(QObject):
    """Lives on its own QThread; never touched from the GUI thread except through ``submit``."""

    frame_ready = Signal(object)  # FrameResult (an early one without details, then the full one)
    frame_failed = Signal(str)  # a sentence for the user
    frame_done = Signal()  # a frame request has run (its results, if any, were sent before)
    model_loaded = Signal(object, str, str)  # ModelSpec, description, the device it runs on
    load_failed = Signal(str, str)  # name, sentence
    weights_missing = Signal(str, str)  # name, sentence: an ImageNet family whose weights are not here
    untrusted = Signal(str, str)  # path, message: the GUI asks the user before retrying with trust
    loading = Signal(str)  # name of the model being loaded
    job_done = Signal(object, object)  # Job, result
    job_failed = Signal(object, str)  # Job, sentence
    lab_ready = Signal(object)  # LabResult
    edited = Signal(bool)  # whether the model now differs from its trained weights
    fell_back = Signal(str)  # the device the model moved to after running out of memory
    _wake = Signal()

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._pending_frame: FrameRequest | None = None
        #: Whether newer input waits outside the mailbox (the controller's paint gate holds it on the CPU);
        #: set by the controller, asked on this thread as a hint (a plain read).
        self.input_waiting: Callable[[], bool] = lambda: False
        self._owed_detail: tuple[frozenset[str] | None] | None = None  # a detail refresh handed on to it
        self._pending_load: LoadRequest | None = None
        self._jobs: list[Job] = []
        self._edits: list[EditRequest] = []
        self._pending_lab: LabRequest | None = None
        self._idle = threading.Event()
        self._idle.set()
        self.surgeon: Surgeon | None = None
        self.dropped = 0  # frame requests replaced before they ran (latest wins)
        self.dropped_lab = 0
        self.model: torch.nn.Module | None = None
        self._last_detail = 0.0  # when a frame last refreshed the secondary views
        self._work = threading.Event()  # set by submit: work is waiting (see _drain)
        self._stopping = False
        self._wake.connect(self._drain)

    def submit(self, request: FrameRequest | LoadRequest | Job | EditRequest | LabRequest) -> None:
        """Thread-safe: store the latest request and wake the worker."""
        with self._lock:
            self._idle.clear()
            if isinstance(request, EditRequest):
                self._edits.append(request)
            elif isinstance(request, LabRequest):
                if self._pending_lab is not None:
                    self.dropped_lab += 1
                self._pending_lab = request
            elif isinstance(request, Job):
                self._jobs = [j for j in self._jobs if j.kind != request.kind] + [request]
            elif isinstance(request, LoadRequest):
                self._pending_load = request
            else:
                replaced = self._pending_frame
                if replaced is not None:
                    self.dropped += 1
                    if replaced.detail and not request.detail:  # never lose a pending refresh of the details
                        request = replace(request, detail=True, visible=replaced.visible)
                if self._owed_detail is not None:  # the secondary views' refresh a frame handed on to newer input
                    if not request.detail:
                        request = replace(request, detail=True, visible=self._owed_detail[0])
                    self._owed_detail = None
                self._pending_frame = request
            self._work.set()
        self._wake.emit()

    def stop_lingering(self) -> None:
        """Thread-safe: the thread is about to stop; a linger in progress ends now, and none starts."""
        self._stopping = True
        self._work.set()

    def wait_idle(self, timeout: float) -> bool:
        """Thread-safe: block until every request posted so far has run (tests, the benchmark)."""
        return self._idle.wait(timeout)

    @Slot()
    def _drain(self) -> None:
        worked = False  # (a wake that finds the work already done returns at once: no linger)
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
                if not (load or edit or job or lab or frame):
                    self._idle.set()
                    self._work.clear()
            if not (load or edit or job or lab or frame):
                if worked and not self._stopping and self._work.wait(LINGER_S):
                    continue  # new work within the linger: no trip through the thread's event loop
                return
            worked = True
            if load is not None:
                self._load(load)
            elif edit is not None:
                self._edit(edit)
            elif job is not None:
                self._job(job)
            else:
                if lab is not None:
                    self._lab(lab)
                if frame is not None:
                    self._run(frame)

    def _load(self, request: LoadRequest) -> None:
        from cnnviz.core.engine.inference import warm_up
        from cnnviz.core.models.device import apply_thread_policy, resolve_device
        from cnnviz.core.models.live import live_model
        from cnnviz.core.models.model_io import load_model
        from cnnviz.core.models.zoo import spec_of

        self.loading.emit(request.name)
        try:
            if request.live is not None:
                model = request.live
                if not hasattr(model, "cnnviz_spec"):
                    model = live_model(model, copy=False, **dict(request.live_args))  # type: ignore[arg-type]
                model = model.to(resolve_device(request.device))
            else:
                model = load_model(request.name, request.device, pretrained=False if request.untrained else None,
                                   trust=request.trust, **request.options.kwargs())
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
        except WeightsUnavailableError as exc:
            self.weights_missing.emit(request.name, str(exc))
            return
        except CnnvizError as exc:
            self.load_failed.emit(request.name, str(exc))
            return
        except Exception as exc:  # noqa: BLE001 - the app must go on; the handler shows it
            self.load_failed.emit(request.name, f"Loading {request.name} failed unexpectedly: {exc}")
            traceback.print_exc()
            return
        self.model = model
        self.surgeon = Surgeon(model)
        self.model_loaded.emit(spec, spec.description or spec.name, _device_of(model))
        self.edited.emit(False)

    def _guarded(self, what: str, work: Callable[[], object], failed: Callable[[str], None]) -> object | None:
        """Run ``work``; a CnnvizError becomes its sentence, anything else a report, and the worker goes on."""
        try:
            return work()
        except CnnvizError as exc:
            failed(str(exc))
        except Exception as exc:  # noqa: BLE001 - the app must go on; the traceback goes to the log
            failed(f"{what} failed: {exc}")
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

        if self._guarded("Editing the filter", work, self.frame_failed.emit):
            self.edited.emit(surgeon.edited)

    def _lab(self, request: LabRequest) -> None:
        result = self._guarded("The kernel lab", lambda: run_lab(request), self.frame_failed.emit)
        if result is not None:
            self.lab_ready.emit(result)

    def _job(self, job: Job) -> None:
        loaded = Loaded(self.model, self.surgeon)
        boxed = self._guarded(job.kind, lambda: [job.fn(loaded)], lambda m: self.job_failed.emit(job, m))
        if boxed is not None:  # (boxed: a job may return None)
            self.job_done.emit(job, boxed[0])

    def _frame(self, request: FrameRequest) -> FrameResult:
        assert self.model is not None
        surgeon = self.surgeon
        baseline = (lambda: trained_weights(surgeon)) if surgeon is not None and surgeon.edited else None
        return process_frame(self.model, request, baseline, lambda: self._details_now(request),
                             early=self.frame_ready.emit)

    def _fall_back_to_cpu(self, request: FrameRequest) -> FrameResult:
        """Out of GPU memory: move the model to the CPU, say so, and run the frame again there."""
        assert self.model is not None
        self.model.to("cpu")
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        self.frame_failed.emit("The GPU ran out of memory, so the model now runs on the CPU (slower). "
                               "Choose a smaller model or input to use the GPU again.")
        self.fell_back.emit("cpu")
        return self._frame(request)

    def _run(self, request: FrameRequest) -> None:
        if self.model is None:
            self.frame_done.emit()
            return

        def frame() -> FrameResult:
            try:
                return self._frame(request)
            except torch.OutOfMemoryError:
                return self._fall_back_to_cpu(request)

        result = self._guarded("The forward pass", frame, self.frame_failed.emit)
        if result is not None:
            self.frame_ready.emit(result)
        self.frame_done.emit()

    def _details_now(self, request: FrameRequest) -> bool:
        """Asked once a detail frame's forward pass is done (see cadence.hand_details_on); when input
        stops, the last frame carries the details (and the controller asks once more)."""
        now = time.perf_counter()
        with self._lock:
            newer = self._pending_frame
            if hand_details_on(now, self._last_detail, newer is not None or self.input_waiting()):
                if newer is None:  # held at the controller's paint gate: the next request submitted takes it
                    self._owed_detail = (request.visible,)
                elif not newer.detail:
                    self._pending_frame = replace(newer, detail=True, visible=request.visible)
                return False
        self._last_detail = now
        return True


def _device_of(model: torch.nn.Module) -> str:
    parameter = next(model.parameters(), None)
    return "cpu" if parameter is None else str(parameter.device)


class WorkerThread:
    """Owns the QThread and the worker; ``stop`` joins it so nothing outlives the window."""

    def __init__(self) -> None:
        self.thread = QThread()
        self.thread.setObjectName("cnnviz-inference")
        self.worker = InferenceWorker()
        self.worker.moveToThread(self.thread)
        self.thread.start()

    def stop(self) -> None:
        self.worker.stop_lingering()
        self.thread.quit()
        self.thread.wait(5000)
