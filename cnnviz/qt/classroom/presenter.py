"""Presenter mode: full screen, large fonts and thick lines, for a projector at the back of a room.

Fonts grow through the application font (every widget follows it); the panels thicken their own
lines when the state says presenter mode is on. Esc leaves it.
"""

from __future__ import annotations

from PySide6.QtGui import QFont, QKeySequence
from PySide6.QtWidgets import QApplication

from cnnviz.qt.controller import Controller
from cnnviz.qt.main_window import MainWindow
from cnnviz.qt.state import ViewState


class Presenter:
    def __init__(self, window: MainWindow, controller: Controller, scale_percent: int = 170) -> None:
        self.window = window
        self.controller = controller
        self.scale = scale_percent / 100.0
        self.active = False
        self._normal_font: QFont | None = None
        self._was_maximized = False
        self.action = window.menu("&View").addAction("Presenter mode", QKeySequence("F11"), self.toggle)
        self.action.setCheckable(True)
        controller.state_changed.connect(self._state_changed)

    def toggle(self) -> None:
        self.controller.set_options(presenter=not self.controller.state.presenter)

    def _state_changed(self, state: ViewState, old: ViewState) -> None:
        if state.presenter != old.presenter:  # (state changes come with every edit: react to this one only)
            self.set_active(state.presenter)

    def set_active(self, on: bool) -> None:
        self.action.setChecked(on)
        if on == self.active:
            return
        app = QApplication.instance()
        self.active = on
        if on:
            self._normal_font = QFont(app.font())
            big = QFont(self._normal_font)
            size = self._normal_font.pointSizeF()
            if size > 0:
                big.setPointSizeF(size * self.scale)
            else:  # a pixel-sized font
                big.setPixelSize(round(self._normal_font.pixelSize() * self.scale))
            app.setFont(big)
            self.window.setFont(big)  # widgets styled by a style sheet follow their parent, not the app
            self._was_maximized = self.window.isMaximized()
            self.window.showFullScreen()
        else:
            if self._normal_font is not None:
                app.setFont(self._normal_font)
                self.window.setFont(self._normal_font)
            if self._was_maximized:
                self.window.showMaximized()
            else:
                self.window.showNormal()
