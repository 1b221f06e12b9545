"""Snapshots: the view as it is now, kept beside the live one (S)."""

from __future__ import annotations

import time

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence

from cnnviz.qt.controller import Controller
from cnnviz.qt.main_window import MainWindow
from cnnviz.qt.views.snapshot_view import SnapshotDock


class Snapshots:
    def __init__(self, window: MainWindow, controller: Controller) -> None:
        self.window = window
        self.controller = controller
        self.dock = SnapshotDock(window)
        window.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.dock)
        self.dock.hide()
        window.menu("&View").addAction("Snapshot", QKeySequence("S"), self.snapshot)
        window.closing.connect(self.dock.close)  # (a floating dock is a window of its own: it goes too)

    def snapshot(self) -> None:
        result = self.controller.last_frame
        if result is None:
            return
        top = f"'{result.top[0][0]}' {result.top[0][1] * 100:.1f} %" if result.top else "-"
        caption = f"{result.model_name}, {result.selected}: predicts {top}\n{time.strftime('%H:%M:%S')}"
        self.dock.add(self.window.splitter.grab(), caption)
