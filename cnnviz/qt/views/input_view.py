"""The model's input, enlarged, with the receptive field of the hovered feature-map pixel outlined."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Signal
from PySide6.QtGui import QColor, QPen
from PySide6.QtWidgets import QGraphicsRectItem, QWidget

from cnnviz.qt.views.rgb_item import RGBImageItem


class InputView(pg.GraphicsLayoutWidget):
    #: (top, left, size) of the grey occlusion patch in model-input pixels, or None when it is off
    occlusion_changed = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setBackground("w")
        self.setMinimumSize(160, 160)
        self.box = self.addViewBox(lockAspect=True, invertY=True)
        self.box.setMenuEnabled(False)
        self.box.setMouseEnabled(False, False)
        self.item = RGBImageItem(axisOrder="row-major")
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
        self.patch = pg.ROI((0, 0), (8, 8), pen=pg.mkPen((255, 60, 60), width=2), movable=True, resizable=False,
                            rotatable=False, translateSnap=True)
        self.patch.setZValue(20)
        self.patch.hide()
        self.patch.sigRegionChanged.connect(lambda _roi: self._emit_patch())
        self.box.addItem(self.patch)
        self.setToolTip("What the model receives. Hover a feature map: the outline is the part of this input "
                        "that pixel can see (its receptive field).")

    def set_image(self, image: np.ndarray) -> None:
        self.item.setImage(np.ascontiguousarray(image), autoLevels=False)  # uint8: no rescaling
        if image.shape != self._shape:
            self._shape = image.shape
            self.box.autoRange(padding=0.02)

    @property
    def occlusion(self) -> tuple[int, int, int] | None:
        if not self.patch.isVisible():
            return None
        x, y = self.patch.pos()
        return int(round(y)), int(round(x)), int(round(self.patch.size()[0]))

    def set_occlusion(self, on: bool, size: int | None = None) -> None:
        """Show the grey patch (drag it over the input), centred the first time; hide it when off."""
        if size is not None:
            self.patch.setSize((size, size), update=False)
        if on and not self.patch.isVisible() and self._shape:
            height, width = self._shape[:2]
            side = self.patch.size()[0]
            self.patch.setPos(((width - side) // 2, (height - side) // 2), update=False)
        self.patch.setVisible(on)
        self._emit_patch()

    def move_patch(self, top: int, left: int) -> None:
        self.patch.setPos((left, top))

    def _emit_patch(self) -> None:
        self.occlusion_changed.emit(self.occlusion)

    def set_presenter(self, on: bool) -> None:
        pen = self.field.pen()
        pen.setWidth(5 if on else 2)
        self.field.setPen(pen)

    def show_field(self, rect: tuple[int, int, int, int] | None) -> None:
        """(top, left, bottom, right) inclusive, or None to hide."""
        self.rect = rect
        if rect is None:
            self.field.hide()
            return
        top, left, bottom, right = rect
        self.field.setRect(QRectF(left, top, right - left + 1, bottom - top + 1))
        self.field.show()
