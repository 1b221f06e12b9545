"""Session files for the controller: written and read on the worker (a session may hold a large
photo), applied as one new state when they arrive."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from cnnviz.core.teach.session import Session, load_session, save_session
from cnnviz.qt.state import from_session, to_session

if TYPE_CHECKING:
    from cnnviz.qt.controller import Controller


def save(controller: Controller, path: str | Path) -> None:
    """Gather the state now, encode and write it on the worker."""
    session = to_session(controller.state, controller.current_input())
    controller.status.emit("saving the session...")

    def done(saved: object) -> None:
        controller.status.emit(f"session saved to {saved}")
        controller.session_saved.emit(str(saved))

    controller.run_job("session-save", lambda _loaded: save_session(path, session), done)


def open_file(controller: Controller, path: str | Path) -> None:
    controller.status.emit(f"opening {Path(path).name}...")
    controller.run_job("session", lambda _loaded: load_session(path), lambda s: apply(controller, s))  # type: ignore[arg-type]


def apply(controller: Controller, session: Session) -> None:
    """The session's state on top of the current one; its input shown where it belongs."""
    state = from_session(controller.state, session)
    pictures: dict[str, np.ndarray] = {}
    picture = session.input
    if picture is not None:
        if session.source == "draw" and picture.ndim == 2:
            controller.input_changed.emit("draw", picture)  # the canvas shows it, then sets it as the input
        else:
            rgb = picture if picture.ndim == 3 else np.repeat(picture[..., None], 3, 2)
            controller.input_changed.emit("image", rgb)
            pictures["image"] = rgb
    controller.restore(state, pictures)
    controller.status.emit("session opened.")
    controller.session_opened.emit(session)
