"""The embedding map drawn: every sample a dot coloured by its true class (a colour-blind-safe palette),
the ones the model gets wrong as crosses, the current input as a gold star ringed by the samples it was
placed by. Hovering a dot names its row, clicking it asks for that sample (signals; the panel acts)."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QWidget

from cnnviz.core.teach.embedding import EmbeddingMap, Placement
from cnnviz.core.teach.embedding_drawing import class_colour

GOLD = (245, 180, 0)
PRESENTER = 1.6  # presenter mode draws the dots, the star and the text this much larger (as the graph does)
TEXT_PT = 9.0  # the legend's and the axes' type, in points, before that


class EmbeddingView(pg.PlotWidget):
    hovered = Signal(int)  # the map row under the mouse (-1: none)
    clicked = Signal(int)  # the map row clicked

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent, background="w")
        self.setMenuEnabled(False)
        self.plotItem.setAspectLocked(True)
        self.plotItem.hideButtons()
        self.legend = self.plotItem.addLegend(offset=(8, 8), labelTextColor="k", brush=(255, 255, 255, 210))
        self.scatter = pg.ScatterPlotItem(hoverable=True, tip=None, pxMode=True)
        self.ring = pg.ScatterPlotItem(pxMode=True, symbol="o", size=14, brush=None, pen=pg.mkPen(GOLD, width=2))
        self.star = pg.ScatterPlotItem(pxMode=True, symbol="star", size=26, brush=pg.mkBrush(*GOLD),
                                       pen=pg.mkPen("k", width=1.2))
        for item in (self.scatter, self.ring, self.star):
            self.addItem(item)
        self.star.setZValue(10)
        self.scatter.sigHovered.connect(self._hovered)
        self.scatter.sigClicked.connect(self._clicked)
        self.map: EmbeddingMap | None = None
        self.current: Placement | None = None
        self._hover = -1
        self.scale = 1.0
        self._style()

    def set_presenter(self, on: bool) -> None:
        """Dots, star, legend and axes larger for a projector: the app's larger font does not reach
        pyqtgraph's items, which size themselves in pixels and points of their own."""
        scale = PRESENTER if on else 1.0
        if scale != self.scale:
            self.scale = scale
            self._style()
            current = self.current
            self.set_map(self.map)
            self.set_current(current)

    def _style(self) -> None:
        scale = self.scale
        self.ring.setSize(14 * scale)
        self.star.setSize(26 * scale)
        self.legend.setLabelTextSize(f"{TEXT_PT * scale:.0f}pt")
        font = QFont(self.font())
        font.setPointSizeF(TEXT_PT * scale)
        for side in ("bottom", "left"):
            axis = self.plotItem.getAxis(side)
            axis.setStyle(tickFont=font)
            axis.label.setFont(font)

    def set_map(self, emb: EmbeddingMap | None) -> None:
        self.map = emb
        self.scatter.clear()
        self.legend.clear()
        self.set_current(None)
        if emb is None:
            return
        wrong = emb.misclassified
        brushes = [pg.mkBrush(*class_colour(label), 210) for label in emb.labels]
        pens = [pg.mkPen(class_colour(label), width=2) if bad else pg.mkPen(None)
                for label, bad in zip(emb.labels, wrong, strict=True)]
        self.scatter.setData(pos=emb.points, data=np.arange(len(emb.points)), brush=brushes, pen=pens,
                             symbol=["x" if bad else "o" for bad in wrong],
                             size=[(11 if bad else 7) * self.scale for bad in wrong])
        for label in sorted(set(int(v) for v in emb.labels)):
            name = emb.class_names[label] if label < len(emb.class_names) else f"class {label}"
            self.legend.addItem(pg.ScatterPlotItem(symbol="o", size=9 * self.scale,
                                                   brush=pg.mkBrush(*class_colour(label)), pen=pg.mkPen(None)), name)
        if wrong.any():
            self.legend.addItem(pg.ScatterPlotItem(symbol="x", size=11 * self.scale, brush=pg.mkBrush(90, 90, 90)),
                                f"misclassified ({int(wrong.sum())})")
        self.legend.addItem(pg.ScatterPlotItem(symbol="star", size=16 * self.scale, brush=pg.mkBrush(*GOLD),
                                               pen=pg.mkPen("k")),
                            "the current input")
        axis = "PCA" if emb.method == "pca" else ("t-SNE" if emb.method == "tsne" else emb.method.upper())
        shares = emb.explained_variance
        for side, i in (("bottom", 0), ("left", 1)):
            share = f" ({100 * shares[i]:.0f} % of the variance)" if len(shares) > i else ""
            self.plotItem.setLabel(side, f"{axis} {i + 1}{share}")
        self.plotItem.autoRange()

    def set_current(self, placement: Placement | None) -> None:
        self.current = placement
        if placement is None or self.map is None:
            self.star.clear()
            self.ring.clear()
            return
        self.star.setData(pos=[placement.point])
        rows = list(placement.neighbours) if placement.how == "neighbours" else []
        self.ring.setData(pos=self.map.points[rows] if rows else np.zeros((0, 2)))

    def position_of(self, row: int):  # noqa: ANN201 - the QPoint in the widget where that dot is drawn
        assert self.map is not None
        x, y = (float(v) for v in self.map.points[row])
        return self.mapFromScene(self.plotItem.vb.mapViewToScene(pg.Point(x, y)))

    def _hovered(self, _item: object, points: object, _event: object) -> None:
        row = int(points[0].data()) if len(points) else -1  # type: ignore[arg-type, index]
        if row != self._hover:
            self._hover = row
            self.hovered.emit(row)

    def _clicked(self, _item: object, points: object, _event: object) -> None:
        if len(points):  # type: ignore[arg-type]
            self.clicked.emit(int(points[0].data()))  # type: ignore[index]
