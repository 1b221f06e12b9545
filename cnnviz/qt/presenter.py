"""Presenter mode: full screen, large fonts and thick lines, for a projector at the back of a room.

Fonts grow through the application font (every widget follows it); views that draw their own
lines implement ``set_presenter(on)`` to thicken them.
"""

from __future__ import annotations

from PySide6.QtGui import QFont
from PySide6.QtWidgets import QApplication, QMainWindow, QWidget


class Presenter:
    def __init__(self, window: QMainWindow, views: list[QWidget], scale_percent: int = 170) -> None:
        self.window = window
        self.views = views
        self.scale = scale_percent / 100.0
        self.active = False
        self._normal_font: QFont | None = None
        self._was_maximized = False

    def toggle(self) -> bool:
        self.set_active(not self.active)
        return self.active

    def set_active(self, on: bool) -> None:
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
        for view in self.views:
            view.set_presenter(on)
