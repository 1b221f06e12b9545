"""View > Reset layout, Fit views and the docks: a window left in a state that is hard to leave (a pane
dragged away, the maps zoomed out of sight, a dock closed) comes back in one step."""

from __future__ import annotations

from PySide6.QtGui import QKeySequence

from cnnviz.qt.classroom.snapshots import Snapshots
from cnnviz.qt.main_window import MainWindow
from cnnviz.qt.panels.network_panel import NetworkPanel


class LayoutMenu:
    def __init__(self, window: MainWindow, network: NetworkPanel, snapshots: Snapshots) -> None:
        self.window = window
        self.network = network
        self.snapshots = snapshots
        view = window.menu("&View")
        view.addSeparator()
        view.addAction("Fit views", QKeySequence("Home"), network.fit_views)
        view.addAction("Reset layout", QKeySequence("Ctrl+Shift+R"), self.reset)
        dock = snapshots.dock.toggleViewAction()
        dock.setText("Snapshots panel")
        view.addAction(dock)

    def reset(self) -> None:
        """Every panel back at its first size and on screen; the snapshots dock closed; the maps fitted."""
        self.snapshots.dock.hide()
        self.window.reset_layout()
        self.network.reset_layout()
        self.window.show_view("network")
