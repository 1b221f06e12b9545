"""Autosave: what the user is looking at (the drawing or image, the kernel bank, the model, the stage and
the view) is written to the app's data folder a few seconds after it changes, atomically, as a session
file; a clean exit removes it. If the app was killed or crashed, the next start finds it and offers it
back. The user's own session files are never touched.
"""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import QStandardPaths, QTimer
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton

from cnnviz.core.teach.session import save_session
from cnnviz.qt import session_files
from cnnviz.qt.controller import Controller
from cnnviz.qt.main_window import MainWindow
from cnnviz.qt.state import ViewState, to_session

#: Seconds between checks for a change to save (CNNVIZ_AUTOSAVE_S overrides it, for tests).
INTERVAL_S = 3.0


def autosave_path() -> Path:
    """``<data folder>/cnnviz/autosave.cnnviz`` (on Linux XDG_DATA_HOME, else ~/.local/share)."""
    base = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.GenericDataLocation)
    return Path(base or Path.home() / ".local" / "share") / "cnnviz" / "autosave.cnnviz"


class Autosave:
    def __init__(self, window: MainWindow, controller: Controller) -> None:
        self.window = window
        self.controller = controller
        self.path = autosave_path()
        self.saves = 0  # autosaves written (tests count them)
        self._saved: tuple[ViewState, int] | None = None
        self._writing = False
        self.offer = self._build_offer()
        window.central_layout.insertWidget(1, self.offer)
        if self.path.is_file():  # the last run did not end cleanly
            self.offer.show()
        seconds = float(os.environ.get("CNNVIZ_AUTOSAVE_S", "") or INTERVAL_S)
        self.timer = QTimer(window)
        self.timer.setInterval(max(100, int(seconds * 1000)))
        self.timer.timeout.connect(self.save_if_changed)
        self.timer.start()
        window.closing.connect(self.clean_exit)

    def _build_offer(self) -> QFrame:
        frame = QFrame()
        frame.setStyleSheet("QFrame{background:#e3f0fb;border:1px solid #8ab4dc;border-radius:3px;}")
        text = QLabel("<b>cnnviz did not close properly last time.</b> Bring back the drawing, kernels, model "
                      "and view it had?")
        self.restore_button, self.discard_button = QPushButton("Restore"), QPushButton("Discard")
        self.restore_button.clicked.connect(self.restore)
        self.discard_button.clicked.connect(self.discard)
        layout = QHBoxLayout(frame)
        layout.addWidget(text, 1)
        layout.addWidget(self.restore_button)
        layout.addWidget(self.discard_button)
        frame.hide()
        return frame

    def save_if_changed(self) -> None:
        """Written on the worker (a photo's PNG takes a while); nothing while the restore is on offer."""
        if self._writing or self.offer.isVisible() or self.controller.spec is None:
            return
        picture = self.controller.current_input()
        key = (self.controller.state, id(picture))
        if key == self._saved:
            return
        session = to_session(self.controller.state, picture)  # (inputs are new arrays, never written in place)
        self._writing = True

        def done(_path: object) -> None:
            self._writing = False
            self._saved = key
            self.saves += 1

        def failed(_message: str) -> None:
            self._writing = False

        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.controller.run_job("autosave", lambda _loaded: save_session(self.path, session), done, failed)

    def restore(self) -> None:
        self.offer.hide()
        session_files.open_file(self.controller, self.path)

    def discard(self) -> None:
        self.offer.hide()
        self.path.unlink(missing_ok=True)

    def clean_exit(self) -> None:
        """A clean exit leaves nothing to restore."""
        self.timer.stop()
        if not self.offer.isVisible():
            self.path.unlink(missing_ok=True)
