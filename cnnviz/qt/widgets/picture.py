"""A picture scaled to fit its box, for views that change their picture while the model runs.

A QLabel showing a pixmap asks for a new layout with every ``setPixmap`` (unless its size is
fixed): Qt re-lays out every layout from the label up to the window, and on the main window
that repainted the whole right-hand panel (~8 ms on the development VM) twice a second while
a ResNet ran. This widget's size hints never depend on its picture, so a new picture only
repaints the widget itself.
"""

from __future__ import annotations

from PySide6.QtCore import QRect, QSize, Qt
from PySide6.QtGui import QPainter, QPaintEvent, QPixmap
from PySide6.QtWidgets import QSizePolicy, QWidget


class Picture(QWidget):
    """Draws its pixmap centred, as large as fits (aspect kept, at most ``max_side`` pixels a side), with
    nearest-neighbour scaling so that small grids such as filter weights stay crisp."""

    def __init__(self, minimum: QSize, max_side: int = 0, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._pixmap = QPixmap()
        self.max_side = max_side
        self.setMinimumSize(minimum)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    def set_pixmap(self, pixmap: QPixmap | None) -> None:
        self._pixmap = pixmap if pixmap is not None else QPixmap()
        self.update()

    def pixmap(self) -> QPixmap:
        return self._pixmap

    def sizeHint(self) -> QSize:
        return self.minimumSize()

    def target(self) -> QRect:
        """Where the picture is drawn, in widget coordinates (empty without a picture)."""
        if self._pixmap.isNull():
            return QRect()
        box = self.rect().size()
        if self.max_side:
            box = box.boundedTo(QSize(self.max_side, self.max_side))
        size = self._pixmap.size().scaled(box, Qt.AspectRatioMode.KeepAspectRatio)
        left = (self.width() - size.width()) // 2
        top = (self.height() - size.height()) // 2
        return QRect(left, top, size.width(), size.height())

    def paintEvent(self, event: QPaintEvent) -> None:
        if self._pixmap.isNull():
            return
        painter = QPainter(self)
        painter.drawPixmap(self.target(), self._pixmap)
        painter.end()
