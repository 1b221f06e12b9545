"""The model's input, enlarged, with the receptive field of the hovered feature-map pixel outlined."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF
from PySide6.QtGui import QColor, QPen
from PySide6.QtWidgets import QGraphicsRectItem, QWidget


class InputView(pg.GraphicsLayoutWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setBackground("w")
        self.setMinimumSize(160, 160)
        self.box = self.addViewBox(lockAspect=True, invertY=True)
        self.box.setMenuEnabled(False)
        self.box.setMouseEnabled(False, False)
        self.item = pg.ImageItem(axisOrder="row-major")
        self.box.addItem(self.item)
        self.field = QGraphicsRectItem()
        pen = QPen(QColor(255, 170, 0), 0)
        pen.setCosmetic(True)
        pen.setWidth(2)
        self.field.setPen(pen)
        self.field.setZValue(10)
        self.field.hide()
        self.box.addItem(self.field)
        self._shape: tuple[int, ...] = ()
        self.rect: tuple[int, int, int, int] | None = None
        self.setToolTip("What the model receives. Hover a feature map: the outline is the part of this input "
                        "that pixel can see (its receptive field).")

    def set_image(self, image: np.ndarray) -> None:
        self.item.setImage(np.ascontiguousarray(image), autoLevels=False)  # uint8: no rescaling
        if image.shape != self._shape:
            self._shape = image.shape
            self.box.autoRange(padding=0.02)

    def show_field(self, rect: tuple[int, int, int, int] | None) -> None:
        """(top, left, bottom, right) inclusive, or None to hide."""
        self.rect = rect
        if rect is None:
            self.field.hide()
            return
        top, left, bottom, right = rect
        self.field.setRect(QRectF(left, top, right - left + 1, bottom - top + 1))
        self.field.show()
