"""Session files in the File menu: save what the class is looking at, open it again tomorrow."""

from __future__ import annotations

from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QFileDialog

from cnnviz.core.teach.session import SUFFIX
from cnnviz.qt import session_files
from cnnviz.qt.controller import Controller
from cnnviz.qt.main_window import MainWindow


class Sessions:
    def __init__(self, window: MainWindow, controller: Controller) -> None:
        self.window = window
        self.controller = controller
        menu = window.file_menu
        menu.addSeparator()
        menu.addAction("Save session...", QKeySequence("Ctrl+S"), self._save_dialog)
        menu.addAction("Open session...", QKeySequence("Ctrl+Shift+S"), self._open_dialog)

    def _save_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self.window, "Save session", f"lesson{SUFFIX}",
                                              f"cnnviz sessions (*{SUFFIX})")
        if path:
            session_files.save(self.controller, path)  # a failure reaches the banner through the job

    def _open_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self.window, "Open session", "", f"cnnviz sessions (*{SUFFIX})")
        if path:
            session_files.open_file(self.controller, path)
