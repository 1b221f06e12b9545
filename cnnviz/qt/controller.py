"""The controller: owns the ViewState, the input pictures, the worker, model loading and the cadence.

Widgets tell it what the user wants (``select_stage``, ``set_input``, ``load_model``, ...); it makes
a new state, decides what has to be computed (cadence.py says when) and posts it to the worker;
results come back to it and it hands each one to the views once, through its signals. Slow work
other than frames goes out as a typed ``Job`` whose result comes back to that job's own callback,
so one failure clears only its own job. Nothing here draws.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace

import numpy as np
import torch
from PySide6.QtCore import QObject, QTimer, Signal

from cnnviz.core.data.datasets import ArrayDataset
from cnnviz.core.engine.frame import FrameResult
from cnnviz.core.lab.kernel_lab import LabResult
from cnnviz.core.lab.surgery import FilterEdit
from cnnviz.core.models.zoo import ModelSpec
from cnnviz.qt import cadence, input_jobs
from cnnviz.qt.followers import Followers
from cnnviz.qt.model_loading import ModelLoading
from cnnviz.qt.paint_gate import PaintGate
from cnnviz.qt.settings import Settings
from cnnviz.qt.state import LabOptions, ViewState, frame_request, lab_request
from cnnviz.qt.worker import EditRequest, Job, Loaded, WorkerThread


class Controller(ModelLoading, QObject):
    state_changed = Signal(object, object)  # new ViewState, old ViewState
    frame_ready = Signal(object)  # FrameResult whose maps, input and bars are new
    details_ready = Signal(object)  # FrameResult with the secondary views (strip, chain, filters, steps)
    frame_shown = Signal(object)  # FrameResult, after the views were given it
    lab_ready = Signal(object)  # LabResult
    model_loading = Signal(str)
    model_loaded = Signal(object, str)  # ModelSpec, description
    edited_changed = Signal(bool)
    error = Signal(str)  # a sentence for the user; the last good state stays
    cleared = Signal()  # the last error no longer applies
    status = Signal(str)
    trust_needed = Signal(str, str)  # path, message: ask the user, then load_model(path, trust=True)
    weights_missing = Signal(str, str)  # name, sentence: the window offers random weights, a file, a download
    input_changed = Signal(str, object)  # source, picture (a new image, pasted or opened)
    image_opened = Signal(str)  # the path of an image file now used as the input
    dataset_loaded = Signal(object)  # ArrayDataset
    predictions_ready = Signal(object)  # predicted class index per dataset sample
    sample_requested = Signal(int)  # a dataset sample by index, for the Dataset tab to show (and make the input)
    session_opened = Signal(object)  # the Session applied
    session_saved = Signal(str)

    def __init__(self, state: ViewState, settings: Settings, remembered: bool = False,
                 trusted: frozenset[str] = frozenset(), live: torch.nn.Module | None = None) -> None:
        super().__init__()
        self.settings = settings
        self._state = state
        self.trusted: set[str] = set(trusted)  # models whose code the user has consented to run, this run
        self._live = live  # a model handed over from Python (cnnviz.view), made ready by core
        self._live_args: tuple[tuple[str, object], ...] = ()  # how to make a copied one ready (load_live)
        self._remembered = remembered  # the model came from the settings: fall back to the default if it fails
        self._keep_error = False  # a message that must survive the next model load (fallbacks)
        self._inputs: dict[str, np.ndarray] = {}
        self._exact: dict[str, tuple[np.ndarray, torch.Tensor]] = {}  # source -> (its picture, the exact model input)
        self._visible: Callable[[], frozenset[str] | None] = lambda: None
        self.spec: ModelSpec | None = None  # the model on the worker, once loaded
        self.device_in_use = ""
        self.edited = False
        self.last_frame: FrameResult | None = None
        self.input_changed_at = 0.0  # when the input last changed source or picture (perf_counter)
        self.frames_asked = 0  # frame requests made (tests count work asked for, never time)
        self._thread = WorkerThread()
        worker = self.worker = self._thread.worker
        worker.frame_ready.connect(self._frame_arrived)
        # (bound methods only: PySide6 runs a lambda connected to the worker's signals on the worker thread)
        worker.frame_done.connect(self._frame_done)
        worker.frame_failed.connect(self.error)
        worker.lab_ready.connect(self._lab_arrived)
        worker.model_loaded.connect(self._model_loaded)
        worker.load_failed.connect(self._load_failed)
        worker.weights_missing.connect(self._weights_missing)
        worker.untrusted.connect(self.trust_needed)
        worker.loading.connect(self.model_loading)
        worker.job_done.connect(self._job_done)
        worker.job_failed.connect(self._job_failed)
        worker.edited.connect(self._edited)
        worker.fell_back.connect(self._fell_back)
        self._last_detail = 0.0
        self._last_stamp = 0.0
        self._detail_timer = QTimer(self)  # the secondary views catch up with the last input once it stops
        self._detail_timer.setSingleShot(True)
        self._detail_timer.setInterval(int(cadence.DETAIL_INTERVAL * 1000))
        self._detail_timer.timeout.connect(lambda: self.refresh(detail=True, again=True))
        self.gate = PaintGate(worker.submit, self)  # on the CPU, the next frame waits for the last one's paint
        worker.input_waiting = self.gate.holding  # (so a detail frame hands its refresh on, as cadence says)
        self.followers = Followers(worker.submit, self)
        self._next: dict[str, object] = {}  # the latest unshown result of each kind (frame, lab)
        self._shut = False

    # ---- state ----------------------------------------------------------------------------
    @property
    def state(self) -> ViewState:
        return self._state

    def _set(self, **changes: object) -> ViewState:
        old = self._state
        new = replace(old, **changes)  # type: ignore[arg-type]
        if new != old:
            self._state = new
            self.state_changed.emit(new, old)
        return new

    def current_input(self) -> np.ndarray | None:
        return self._inputs.get(self._state.source)

    def current_tensor(self) -> torch.Tensor | None:
        """The exact model input the current picture stands for (see use_model_input); None for any other."""
        entry = self._exact.get(self._state.source)
        return entry[1] if entry is not None and entry[0] is self.current_input() else None

    def set_visible_stages(self, visible: Callable[[], frozenset[str] | None]) -> None:  # (only they get thumbnails)
        self._visible = visible

    def start(self) -> None:
        """Load the state's model (the composition root calls this once the views are connected)."""
        self._load()
        self.load_dataset("samples-mnist", "")

    # ---- inputs ---------------------------------------------------------------------------
    def set_input(self, source: str, rgb: np.ndarray, select: bool = False) -> None:
        """A new picture from ``source``; recomputed at once when that source is the one shown."""
        self._inputs[source] = rgb
        if select and source != self._state.source:
            self.set_source(source)
        elif source == self._state.source:
            if select:
                self.input_changed_at = time.perf_counter()
            self.refresh(detail=True if select else None)

    def use_image(self, rgb: np.ndarray, note: str = "") -> None:
        """An image (opened, pasted, from a session) becomes the input on the Image tab."""
        self.cleared.emit()
        if note:
            self.status.emit(note)
        self.input_changed.emit("image", rgb)
        self.input_changed_at = time.perf_counter()
        self.set_input("image", rgb, select=True)

    def use_model_input(self, picture: np.ndarray, tensor: torch.Tensor, note: str = "") -> None:
        """An exact model input (the Attack view's adversarial one) as the input on the Image tab: ``picture`` is
        shown (and saved in sessions), ``tensor`` goes to the model as it is, in every frame, until the input
        changes (preparing the picture again would move the pixels the attack chose)."""
        rgb = picture if picture.ndim == 3 else np.repeat(picture[..., None], 3, axis=2)
        self._exact["image"] = (rgb, tensor.detach().cpu().clone())
        self.use_image(rgb, note)

    def set_source(self, source: str) -> None:
        if source == self._state.source:
            return
        self._set(source=source)
        self.input_changed_at = time.perf_counter()
        self.refresh(detail=True)  # another input: every view at once

    def open_image(self, path: str) -> None:  # (read on the worker; a failure keeps the last input)
        input_jobs.open_image(self, path)

    def load_dataset(self, name: str, root: str) -> None:
        input_jobs.load_dataset(self, name, root)

    def choose_sample(self, index: int) -> None:
        """Dataset sample ``index`` becomes the input, shown on the Dataset tab as if stepped to there
        (the Embedding view's click): the tab's preview, position and true label follow."""
        self.sample_requested.emit(index)
        self.set_source("dataset")

    def scan_dataset(self, data: ArrayDataset) -> None:  # (the samples the model gets wrong)
        input_jobs.scan_dataset(self, data)

    # ---- what is shown --------------------------------------------------------------------
    def select_stage(self, name: str) -> None:
        if name != self._state.stage:
            self._set(stage=name)
            self.refresh(detail=True)

    def select_channel(self, channel: int) -> None:
        if channel >= 0:
            self._set(channel=channel)
        self.refresh(detail=True)

    def set_in_channel(self, channel: int | None) -> None:
        self._set(in_channel=channel)
        self.refresh(detail=True)

    def set_options(self, **options: object) -> None:
        """View options (per_channel, top_k, magnitude_map, occlusion, explain, compare_mode, presenter)."""
        old = self._state
        new = self._set(**options)
        if "magnitude_map" in options:
            self.settings.magnitude_map = new.magnitude_map
        if "top_k" in options:
            self.settings.top_k = new.top_k
        if new != old and ({"explain", "compare_mode"} & set(options)):
            self.follow(force=True)
        elif new != old and set(options) - {"presenter"}:
            self.refresh(detail=True)

    def set_view(self, view: str) -> None:
        """A view tab was chosen: a hidden view is refreshed when it is shown, not every frame."""
        if self._set(view=view).view == "lab":
            self._submit_lab()
        self.follow(force=True)

    def set_lab(self, options: LabOptions) -> None:
        self._set(lab=options)
        self._submit_lab()

    def set_frozen(self, frozen: bool) -> None:
        """Freeze: inputs are still taken but nothing is recomputed or repainted; unfreezing shows the latest."""
        self._set(frozen=frozen)
        if frozen:
            self._next.clear()
            self.gate.shown(False)  # (what was waiting to be shown never will be)
            self.status.emit("FROZEN: the views hold still (F goes live again).")
        else:
            self.refresh(detail=True)

    def edit_filter(self, edit: FilterEdit | None) -> None:
        """Put a kernel into a filter of the model (None: back to the trained weights)."""
        self.worker.submit(EditRequest(edit))

    def _submit_lab(self) -> None:
        """The lab recomputes only while it is on screen."""
        rgb = self.current_input()
        if rgb is not None and self._state.view == "lab" and not self._state.frozen and not self._shut:
            self.worker.submit(lab_request(self._state, rgb))

    # ---- frames ---------------------------------------------------------------------------
    def refresh(self, detail: bool | None = None, again: bool = False) -> None:
        """Ask for a frame of the current input; ``detail`` None lets the cadence decide whether the
        secondary views come too. ``again`` redraws the last input (its latency counts from that input)."""
        state = self._state
        if state.frozen or self._shut:
            return
        if not again:
            self._submit_lab()
        rgb = self.current_input()
        if rgb is None or self.spec is None:
            return
        now = time.perf_counter()
        if detail is None:
            detail = cadence.detail_due(now, self._last_detail)
        if detail:
            self._last_detail = now
            self._detail_timer.stop()
        elif not self._detail_timer.isActive():
            self._detail_timer.start()  # the secondary views catch up with the last input once it stops
        stamp = self._last_stamp if again and self._last_stamp else now
        self._last_stamp = stamp
        self.frames_asked += 1
        self.gate.send(frame_request(state, rgb, detail=detail, visible=self._visible() if detail else None,
                                     stamp=stamp, tensor=self.current_tensor()))

    @property
    def dropped(self) -> int:
        """Frame requests replaced before they reached the worker (latest wins)."""
        return self.gate.dropped

    def painted(self) -> None:
        """The window has painted the last frame it was given: the next one may go."""
        self.gate.painted()

    def _frame_done(self) -> None:
        self.gate.done()

    def _frame_arrived(self, result: FrameResult) -> None:
        self.gate.queued = True
        self._queue("frame", result)

    def _lab_arrived(self, result: LabResult) -> None:
        self._queue("lab", result)

    def _queue(self, kind: str, result: object) -> None:
        """Results that arrive while the GUI is busy replace each other: only the latest is shown, so a
        slow paint never builds a backlog (latest wins on this side of the worker too)."""
        first = kind not in self._next
        self._next[kind] = result
        if first and kind == "frame" and self.gate.enabled:
            self._show(kind)  # (behind the paint gate one frame is out at a time: nothing to wait for)
        elif first:
            QTimer.singleShot(0, lambda: self._show(kind))

    def _show(self, kind: str) -> None:
        result = self._next.pop(kind, None)
        if kind == "lab":
            if result is not None and not self._state.frozen and not self._shut:
                self.lab_ready.emit(result)
            return
        if result is None or self._state.frozen or self._shut:
            self.gate.shown(False)
            return
        assert isinstance(result, FrameResult)
        previous, self.last_frame = self.last_frame, result
        if self._state.stage not in {s.name for s in result.stages}:
            # the first result, or a model without the chosen stage (a result still in flight for an
            # earlier choice is shown, but never overrides the user's choice)
            self._set(stage=result.selected)
        if previous is None or result.mosaic is not previous.mosaic:  # (the same input's details: maps drawn)
            self.frame_ready.emit(result)
        if result.detail:
            self.details_ready.emit(result)
        self.frame_shown.emit(result)
        self.gate.shown(True)
        self.follow()

    # ---- followers: explanation and comparison --------------------------------------------
    def follow(self, force: bool = False) -> None:
        """Refresh the explanation or comparison on screen (see followers.py)."""
        if not self._shut and self.spec is not None:
            self.followers.follow(self._state, self.current_input(), force, lambda: self.follow(force=True))

    # ---- jobs -----------------------------------------------------------------------------
    def run_job(self, kind: str, fn: Callable[[Loaded], object], done: Callable[[object], None],
                failed: Callable[[str], None] | None = None) -> None:
        """Run ``fn`` on the worker; ``done(result)`` (or ``failed(sentence)``, after the message is shown)
        on the GUI thread. A newer job of the same kind replaces one that has not started."""
        self.worker.submit(Job(kind, fn, done, failed))

    def _job_done(self, job: Job, result: object) -> None:
        if not self._shut:
            job.done(result)

    def _job_failed(self, job: Job, message: str) -> None:
        self.error.emit(message)
        if job.failed is not None and not self._shut:
            job.failed(message)

    # ---- sessions (session_files.py reads, writes and applies them) -------------------------
    def restore(self, state: ViewState, pictures: dict[str, np.ndarray]) -> None:
        """Take a whole state (a session's) and input pictures at once; reload the model if it differs."""
        old = self._state
        self._state = state
        self._inputs.update(pictures)
        self.state_changed.emit(state, old)
        if (state.model, state.device, state.untrained, state.model_options) != \
                (old.model, old.device, old.untrained, old.model_options):
            self._load()
        else:
            self.refresh(detail=True)

    # ---- tests and shutting down ----------------------------------------------------------
    def is_idle(self) -> bool:
        """Nothing waits on the worker, nothing is held at the gate, no result is on its way or waiting to be
        shown. (The worker can be idle while its last result is still in Qt's queue for this thread: the gate's
        in-flight flag stays up until the frame's done signal, which comes after its results, has arrived.)"""
        return (self.worker.wait_idle(0) and not self.gate.in_flight and self.gate.held is None and not self._next
                and not self.followers.busy)

    def join(self, timeout: float = 30.0) -> bool:
        """Block until the worker has run everything posted so far (the results still arrive by signal)."""
        return self.worker.wait_idle(timeout)

    def shutdown(self) -> None:
        if self._shut:
            return
        self._shut = True
        self._detail_timer.stop()
        self.gate.stop()
        self.followers.stop()
        self._thread.stop()

    @property
    def running(self) -> bool:  # (the worker thread: tests check that nothing outlives its app)
        return self._thread.thread.isRunning()
