"""Views whose result follows the input through a job of their own (the explanation, the comparison):
refreshed when they are on screen, at most every cadence.FOLLOW_INTERVAL seconds, one job at a time each
(the latest input wins), and a failed job clears only its own view's turn."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace

import numpy as np
from PySide6.QtCore import QObject, QTimer

from cnnviz.qt import cadence
from cnnviz.qt.state import ViewState
from cnnviz.qt.worker import Job

MakeJob = Callable[[ViewState, np.ndarray], Job | None]


class Followers(QObject):
    def __init__(self, submit: Callable[[Job], None], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._submit = submit
        self._make: dict[str, MakeJob] = {}
        self.busy: set[str] = set()
        self._again: set[str] = set()
        self._last: dict[str, float] = {}
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._later: Callable[[], None] = lambda: None
        self._timer.timeout.connect(lambda: self._later())

    def add(self, view: str, make_job: MakeJob) -> None:
        """``make_job(state, rgb)`` makes the job that refreshes ``view`` for the current input (or None)."""
        self._make[view] = make_job

    def follow(self, state: ViewState, rgb: np.ndarray | None, force: bool, again: Callable[[], None]) -> None:
        """``again`` asks once more (the controller's follow, with the state and input of that moment)."""
        view = state.view
        make_job = self._make.get(view)
        if make_job is None or state.frozen:
            return
        if view in self.busy:
            self._again.add(view)
            return
        now = time.perf_counter()
        wait = cadence.follow_wait(now, self._last.get(view, 0.0))
        if not force and wait > 0:
            if not self._timer.isActive():
                self._later = again
                self._timer.start(int(wait * 1000) + 1)
            return
        if rgb is None:
            return
        job = make_job(state, rgb)
        if job is None:
            return
        self._last[view] = now
        self.busy.add(view)

        def finished() -> None:
            self.busy.discard(view)
            if view in self._again:
                self._again.discard(view)
                again()

        def on_done(value: object) -> None:
            try:
                job.done(value)
            finally:
                finished()

        def on_failed(message: str) -> None:
            try:
                if job.failed is not None:
                    job.failed(message)
            finally:
                finished()

        self._submit(replace(job, kind=view, done=on_done, failed=on_failed))

    def stop(self) -> None:
        self._timer.stop()
