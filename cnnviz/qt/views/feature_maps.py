"""Every channel of the selected stage as a tile; hover reports (channel, y, x), click enlarges.

One pyqtgraph ImageItem fed uint8 RGB with fixed levels (its fast path), created once;
each update is one ``setImage``.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Signal
from PySide6.QtGui import QColor, QPen
from PySide6.QtWidgets import QGraphicsRectItem, QWidget

from cnnviz.core.engine.render import MosaicLayout
from cnnviz.qt.views.rgb_item import RGBImageItem


class FeatureMapView(pg.GraphicsLayoutWidget):
    hovered = Signal(int, int, int)  # channel, y, x in the stage's own map
    left = Signal()
    tile_clicked = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setBackground("w")
        self.box = self.addViewBox(lockAspect=True, invertY=True)
        self.box.setMenuEnabled(False)
        self.item = RGBImageItem(axisOrder="row-major")
        self.box.addItem(self.item)
        self.marker = QGraphicsRectItem()
        self.marker.setPen(QPen(QColor(255, 200, 0), 0))
        self.marker.setZValue(10)
        self.marker.hide()
        self.box.addItem(self.marker)
        self.flags: list[QGraphicsRectItem] = []  # outlines of dead / saturated channels
        self.layout_info: MosaicLayout | None = None
        self.enlarged: int | None = None
        self._shape: tuple[int, ...] = ()
        self.scene().sigMouseMoved.connect(self._moved)
        self.scene().sigMouseClicked.connect(self._clicked)
        self.setToolTip("Feature maps, one tile per channel: blue-white-red shows sign (conv), viridis shows "
                        "magnitude (ReLU, pool). Hover a pixel to see where it looks; click a tile to enlarge it.")

    def set_mosaic(self, mosaic: np.ndarray, layout: MosaicLayout) -> None:
        self.layout_info = layout
        if self.enlarged is not None and self.enlarged < layout.channels:
            x0, y0 = layout.tile_origin(self.enlarged)
            mosaic = mosaic[y0:y0 + layout.tile_h, x0:x0 + layout.tile_w]
        else:
            self.enlarged = None
        self.item.setImage(np.ascontiguousarray(mosaic), autoLevels=False)  # uint8 RGB: pyqtgraph's fast path
        if mosaic.shape != self._shape:
            self._shape = mosaic.shape
            self.box.autoRange(padding=0.01)

    def set_health(self, dead: tuple[int, ...], saturated: tuple[int, ...]) -> None:
        """Outline dead channels (all zero on this input) in grey-dashed red, saturated ones in orange."""
        layout = self.layout_info
        marks = [] if layout is None or self.enlarged is not None else \
            [(c, QColor(200, 30, 30)) for c in dead if c < layout.channels] + \
            [(c, QColor(255, 140, 0)) for c in saturated if c < layout.channels]
        while len(self.flags) < len(marks):
            item = QGraphicsRectItem()
            item.setZValue(9)
            self.box.addItem(item)
            self.flags.append(item)
        for item, (channel, colour) in zip(self.flags, marks, strict=False):
            x0, y0 = layout.tile_origin(channel)
            pen = QPen(colour, 0)
            pen.setCosmetic(True)
            pen.setWidth(3)
            item.setPen(pen)
            item.setRect(QRectF(x0, y0, layout.tile_w, layout.tile_h))
            item.show()
        for item in self.flags[len(marks):]:
            item.hide()

    def set_presenter(self, on: bool) -> None:
        pen = QPen(QColor(255, 200, 0), 0)
        pen.setCosmetic(True)
        pen.setWidth(4 if on else 1)
        self.marker.setPen(pen)

    def locate(self, px: float, py: float) -> tuple[int, int, int] | None:
        layout = self.layout_info
        if layout is None:
            return None
        if self.enlarged is not None:
            if 0 <= px < layout.tile_w and 0 <= py < layout.tile_h:
                return (self.enlarged, *layout.to_map(int(py), int(px)))
            return None
        return layout.locate(px, py)

    def _moved(self, position: QPointF) -> None:
        point = self.item.mapFromScene(position)
        hit = self.locate(point.x(), point.y())
        if hit is None:
            self.marker.hide()
            self.left.emit()
            return
        channel, y, x = hit
        layout = self.layout_info
        if self.enlarged is None:
            x0, y0 = layout.tile_origin(channel)
        else:
            x0, y0 = 0, 0
        top, left, size = layout.to_tile(y, x)
        self.marker.setRect(QRectF(x0 + left, y0 + top, size, size))
        self.marker.show()
        self.hovered.emit(channel, y, x)

    def _clicked(self, event) -> None:  # noqa: ANN001 - pyqtgraph's MouseClickEvent
        point = self.item.mapFromScene(event.scenePos())
        hit = self.locate(point.x(), point.y())
        if self.enlarged is not None:
            self.enlarged = None
            self._shape = ()
            self.tile_clicked.emit(-1)
        elif hit is not None:
            self.enlarged = hit[0]
            self._shape = ()
            self.tile_clicked.emit(hit[0])
