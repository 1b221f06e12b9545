"""The View menu's options for a lesson: freeze, the colour map for magnitudes, and the keys."""

from __future__ import annotations

from PySide6.QtGui import QActionGroup, QKeySequence
from PySide6.QtWidgets import QMessageBox

from cnnviz.qt.controller import Controller
from cnnviz.qt.main_window import MainWindow
from cnnviz.qt.settings import MAGNITUDE_MAPS
from cnnviz.qt.state import ViewState

KEYS = ("F11  presenter mode (Esc leaves)\nF  freeze / go live\nS  snapshot beside the live view\n"
        "T  guided tour; Page Down / . next, Page Up / , previous\nP  pin the input as A (Compare)\n"
        "Ctrl+R  record the window\nCtrl+S  save session, Ctrl+Shift+S open one\n"
        "Ctrl+1..4  input tabs; Left / Right / R  dataset samples\nDelete, Ctrl+Z, E, [ ]  drawing")


class ViewOptions:
    def __init__(self, window: MainWindow, controller: Controller) -> None:
        self.window = window
        self.controller = controller
        view = window.menu("&View")
        self.freeze_action = view.addAction("Freeze", QKeySequence("F"), self.toggle_freeze)
        self.freeze_action.setCheckable(True)
        maps = view.addMenu("Colour map for magnitudes")
        self.map_actions = QActionGroup(window)
        for name in MAGNITUDE_MAPS:
            action = maps.addAction(name, lambda n=name: controller.set_options(magnitude_map=n))
            action.setCheckable(True)
            action.setChecked(name == controller.state.magnitude_map)
            self.map_actions.addAction(action)
        window.help_menu.addAction("Keys...", self.show_keys)
        controller.state_changed.connect(self._state_changed)

    def toggle_freeze(self) -> None:
        self.controller.set_frozen(not self.controller.state.frozen)

    def _state_changed(self, state: ViewState, old: ViewState) -> None:
        if state.frozen != old.frozen:
            self.freeze_action.setChecked(state.frozen)
        if state.magnitude_map != old.magnitude_map:
            for action in self.map_actions.actions():
                action.setChecked(action.text() == state.magnitude_map)

    def show_keys(self) -> None:
        QMessageBox.information(self.window, "Keys", KEYS)
