"""A drawing canvas: dark ink on white paper, round anti-aliased strokes, undo and clear.

``changed`` fires on every mouse move, so the network updates while the pen moves.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, QRect, Qt, Signal
from PySide6.QtGui import QColor, QImage, QMouseEvent, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

from cnnviz.qt.images import qimage_to_array

CANVAS_SIZE = 280
MAX_UNDO = 50


class DrawCanvas(QWidget):
    changed = Signal()

    def __init__(self, size: int = CANVAS_SIZE, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setFixedSize(size, size)
        self.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
        self.setCursor(Qt.CursorShape.CrossCursor)
        self.setToolTip("Draw a digit with the mouse or a pen; the network updates while you draw.")
        self.brush_width = 18.0
        self.eraser = False
        self._image = QImage(size, size, QImage.Format.Format_Grayscale8)
        self._image.fill(QColor(255, 255, 255))
        self._undo: list[QImage] = []
        self._last: QPointF | None = None

    @property
    def drawing(self) -> bool:
        """Whether a stroke is in progress (the mouse button is down on the canvas)."""
        return self._last is not None

    def clear(self) -> None:
        self._push_undo()
        self._image.fill(QColor(255, 255, 255))
        self.update()
        self.changed.emit()

    def undo(self) -> None:
        if self._undo:
            self._image = self._undo.pop()
            self.update()
            self.changed.emit()

    def _push_undo(self) -> None:
        self._undo.append(self._image.copy())
        del self._undo[:-MAX_UNDO]

    def draw_strokes(self, strokes: list[list[tuple[float, float]]]) -> None:
        """Paint strokes programmatically with the same pen as the mouse (demo, tests)."""
        self._push_undo()
        for stroke in strokes:
            for a, b in zip(stroke, stroke[1:] or stroke, strict=False):
                self._segment(QPointF(*a), QPointF(*b))
        self.update()
        self.changed.emit()

    def set_array(self, grey: np.ndarray) -> None:
        """Replace the drawing with a grey uint8 image (a restored session), resized to the canvas."""
        import cv2

        side = self._image.width()
        if grey.shape != (side, side):
            grey = cv2.resize(grey, (side, side), interpolation=cv2.INTER_AREA)
        grey = np.ascontiguousarray(grey, dtype=np.uint8)
        self._push_undo()
        self._image = QImage(grey.data, side, side, side, QImage.Format.Format_Grayscale8).copy()
        self.update()
        self.changed.emit()

    def to_array(self) -> np.ndarray:
        """The canvas as a grey uint8 array (a copy, safe to hand to the worker thread)."""
        return qimage_to_array(self._image)

    def _dirty(self, a: QPointF, b: QPointF) -> QRect:
        """The widget area a stroke from a to b touched: only that part is repainted (a whole-canvas
        repaint on every pen move cost the GUI thread more than the stroke itself)."""
        pad = int(self.brush_width * (2.0 if self.eraser else 1.0) / 2) + 3
        left, right = sorted((a.x(), b.x()))
        top, bottom = sorted((a.y(), b.y()))
        return QRect(int(left) - pad, int(top) - pad, int(right - left) + 2 * pad + 1, int(bottom - top) + 2 * pad + 1)

    def _segment(self, a: QPointF, b: QPointF) -> None:
        painter = QPainter(self._image)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        colour = QColor(255, 255, 255) if self.eraser else QColor(0, 0, 0)
        width = self.brush_width * (2.0 if self.eraser else 1.0)
        painter.setPen(QPen(colour, width, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap, Qt.PenJoinStyle.RoundJoin))
        painter.drawLine(a, b)
        painter.end()

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            self._push_undo()
            self._last = event.position()
            self._segment(self._last, self._last)
            self.update(self._dirty(self._last, self._last))
            self.changed.emit()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if self._last is not None:
            point = event.position()
            self._segment(self._last, point)
            self.update(self._dirty(self._last, point))
            self._last = point
            self.changed.emit()

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        self._last = None

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        area = event.rect()
        painter.drawImage(area, self._image, area)  # only the part that changed
        painter.setPen(QColor(160, 160, 160))
        painter.drawRect(0, 0, self.width() - 1, self.height() - 1)
        painter.end()
