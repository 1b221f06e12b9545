"""The network drawn as its graph: stages as boxes (kind, shape, parameters, a live thumbnail), edges as
arrows labelled with the shape they carry, blocks as dashed frames that fold shut on a click.

A QGraphicsView: the scene is built once per model from the core's graph and layered layout; a new frame
only swaps the thumbnails of the boxes on screen and moves the highlight. Wheel zooms (under the mouse),
dragging pans; a click on a box (not a drag) emits ``node_clicked`` with the stage's name.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import (
    QBrush,
    QColor,
    QFont,
    QFontMetrics,
    QMouseEvent,
    QPainter,
    QPainterPath,
    QPen,
    QPolygonF,
    QWheelEvent,
)
from PySide6.QtWidgets import (
    QGraphicsItem,
    QGraphicsPathItem,
    QGraphicsPixmapItem,
    QGraphicsRectItem,
    QGraphicsScene,
    QGraphicsSimpleTextItem,
    QGraphicsView,
    QWidget,
)

from cnnviz.core.teach.graph import Graph, Layout, Node, shape_text
from cnnviz.core.teach.graph_drawing import kind_colour
from cnnviz.qt.images import to_pixmap

THUMB = 40  # px: the thumbnail in the right of a box
SELECTED = QColor("#ea580c")
CLICK_SLOP = 5  # px the mouse may move between press and release for a click (more is a pan)


class NodeBox(QGraphicsRectItem):
    """One stage: its box, three lines of text and a thumbnail slot."""

    def __init__(self, node: Node, rect: QRectF) -> None:
        super().__init__(rect)
        self.node = node
        self.setBrush(QBrush(QColor(*kind_colour(node.kind))))
        self.setPen(QPen(QColor("#374151"), 1))
        self.setToolTip(f"{node.name}\n{node.kind}, output {shape_text(node.shape)}\n{node.params:,} parameters"
                        + (f"\nin {node.group}" if node.group else ""))
        room = int(rect.width() - THUMB - 16)
        lines = (node.name, f"{node.kind} \u00b7 {shape_text(node.shape)}",
                 f"{node.params:,} params" if node.params else "")
        for i, (text, size, bold) in enumerate(zip(lines, (10, 9, 8), (True, False, False), strict=True)):
            font = QFont()
            font.setPointSizeF(size)
            font.setBold(bold)
            shown = QFontMetrics(font).elidedText(text, Qt.TextElideMode.ElideLeft, room)
            item = QGraphicsSimpleTextItem(shown, self)
            item.setFont(font)
            item.setPos(rect.x() + 7, rect.y() + 4 + 15 * i)
        self.thumb = QGraphicsPixmapItem(self)
        self.thumb.setPos(rect.right() - THUMB - 6, rect.y() + (rect.height() - THUMB) / 2)
        self.thumb.setTransformationMode(Qt.TransformationMode.FastTransformation)

    def set_selected(self, on: bool) -> None:
        self.setPen(QPen(SELECTED, 4) if on else QPen(QColor("#374151"), 1))
        self.setZValue(3 if on else 2)

    def set_thumbnail(self, image: np.ndarray) -> None:
        pixmap = to_pixmap(image)
        self.thumb.setPixmap(pixmap.scaled(THUMB, THUMB, Qt.AspectRatioMode.KeepAspectRatio))


class BlockFrame(QGraphicsRectItem):
    """A block (``layer1.0``, a user's Sequential): a dashed frame; clicking its label folds it shut (an
    opaque cover with the block's name and size) or open again."""

    def __init__(self, name: str, rect: QRectF, count: int, depth: int) -> None:
        super().__init__(rect)
        self.name = name
        pen = QPen(QColor("#9ca3af"), 1, Qt.PenStyle.DashLine)
        self.setPen(pen)
        self.setZValue(0)
        self.label = QGraphicsSimpleTextItem(name, self)
        font = QFont()
        font.setPointSizeF(8)
        self.label.setFont(font)
        self.label.setBrush(QColor("#6b7280"))
        self.label.setPos(rect.x() + 6, rect.y() + 1)
        self.label.setToolTip(f"{name}: click to fold this block shut or open it")
        self.cover = QGraphicsRectItem(rect)
        self.cover.setBrush(QColor("#e5e7eb"))
        self.cover.setPen(QPen(QColor("#6b7280"), 1.5))
        self.cover.setZValue(10 + depth)
        text = QGraphicsSimpleTextItem(f"{name}\n{count} stages (click to open)", self.cover)
        text.setFont(font)
        text.setPos(rect.x() + 8, rect.y() + 4)
        self.cover.setToolTip(f"{name}: click to open this block")
        self.cover.hide()

    @property
    def folded(self) -> bool:
        return self.cover.isVisible()

    def toggle(self) -> None:
        self.cover.setVisible(not self.cover.isVisible())


class GraphView(QGraphicsView):
    node_clicked = Signal(str)  # the name of the stage whose box was clicked

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setScene(QGraphicsScene(self))
        self.setRenderHints(QPainter.RenderHint.Antialiasing | QPainter.RenderHint.TextAntialiasing)
        self.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setBackgroundBrush(QColor("white"))
        self.boxes: dict[str, NodeBox] = {}
        self.blocks: dict[str, BlockFrame] = {}
        self.graph: Graph | None = None
        self.selected = ""
        self._press: QPointF | None = None
        self._presenter = False

    # ---- building -------------------------------------------------------------------------
    def set_graph(self, graph: Graph, layout: Layout) -> None:
        scene = self.scene()
        scene.clear()
        self.boxes, self.blocks, self.graph, self.selected = {}, {}, graph, ""
        w, h = layout.node_width, layout.node_height
        for name, ids in sorted(graph.blocks.items(), key=lambda b: b[0].count(".")):
            depth = max(graph.nodes[i].group.count(".") - name.count(".") for i in ids)
            pad = 8.0 + 6.0 * depth
            x0 = min(layout.x[i] for i in ids) - w / 2 - pad
            x1 = max(layout.x[i] for i in ids) + w / 2 + pad
            y0 = min(layout.y[i] for i in ids) - h / 2 - 3 - 13 * (depth + 1)
            y1 = max(layout.y[i] for i in ids) + h / 2 + pad
            frame = BlockFrame(name, QRectF(x0, y0, x1 - x0, y1 - y0), len(ids), name.count("."))
            scene.addItem(frame)
            scene.addItem(frame.cover)
            self.blocks[name] = frame
        label_font = QFont()
        label_font.setPointSizeF(7.5)
        edge_pen = QPen(QColor("#555555"), 1.3)
        for edge in graph.edges:
            points = [QPointF(x, y) for x, y in layout.routes[(edge.src, edge.dst)]]
            path = QPainterPath(points[0])
            for point in points[1:]:
                path.lineTo(point)
            line = QGraphicsPathItem(path)
            line.setPen(edge_pen)
            line.setZValue(1)
            scene.addItem(line)
            tip, back = points[-1], points[-2]
            scene.addItem(_arrow_head(back, tip))
            a, b = points[(len(points) - 2) // 2], points[(len(points) - 2) // 2 + 1]
            label = QGraphicsSimpleTextItem(shape_text(edge.shape))
            label.setFont(label_font)
            label.setBrush(QColor("#374151"))
            label.setPos((a.x() + b.x()) / 2 + 5, (a.y() + b.y()) / 2 - 6)
            label.setZValue(1)
            scene.addItem(label)
        for node in graph.nodes:
            box = NodeBox(node, QRectF(layout.x[node.id] - w / 2, layout.y[node.id] - h / 2, w, h))
            box.setZValue(2)
            scene.addItem(box)
            self.boxes[node.name] = box
        scene.setSceneRect(QRectF(0, 0, layout.width, layout.height))
        self.resetTransform()
        if self._presenter:
            self.scale(1.6, 1.6)
        self.centerOn(layout.x[0], layout.y[0] + self.viewport().height() / 2 - h)

    # ---- what the panel tells it ----------------------------------------------------------
    def select(self, name: str | None, centre: bool = False) -> None:
        """Highlight ``name``'s box (and bring it into view: ``centre`` puts it in the middle, as when the
        graph is new); an unknown name clears the highlight."""
        name = name or ""
        if centre and name in self.boxes:
            self.centerOn(self.boxes[name])
        if name == self.selected:
            return
        if self.selected in self.boxes:
            self.boxes[self.selected].set_selected(False)
        self.selected = name if name in self.boxes else ""
        if self.selected:
            box = self.boxes[self.selected]
            box.set_selected(True)
            self.ensureVisible(box, 40, 40)

    def visible_names(self) -> list[str]:
        """The stages whose box is (partly) on screen: only they get new thumbnails."""
        area = self.mapToScene(self.viewport().rect()).boundingRect()
        return [name for name, box in self.boxes.items() if box.sceneBoundingRect().intersects(area)]

    def set_thumbnails(self, thumbnails: dict[str, np.ndarray]) -> int:
        """New thumbnails for the boxes on screen; returns how many were set."""
        count = 0
        for name in self.visible_names():
            image = thumbnails.get(name)
            if image is not None:
                self.boxes[name].set_thumbnail(image)
                count += 1
        return count

    def set_presenter(self, on: bool) -> None:
        """Presenter mode: everything drawn 1.6 times larger (the boxes' type with it)."""
        if on != self._presenter:
            self._presenter = on
            factor = 1.6 if on else 1 / 1.6
            self.scale(factor, factor)

    def zoom(self, factor: float) -> None:
        current = self.transform().m11()
        factor = max(0.05 / current, min(factor, 6.0 / current))  # neither a dot nor a single letter
        self.scale(factor, factor)

    def fit(self) -> None:
        self.fitInView(self.scene().sceneRect(), Qt.AspectRatioMode.KeepAspectRatio)

    # ---- the mouse ------------------------------------------------------------------------
    def wheelEvent(self, event: QWheelEvent) -> None:
        steps = event.angleDelta().y() / 120.0
        if steps:
            self.zoom(1.15 ** steps)
        event.accept()

    def mousePressEvent(self, event: QMouseEvent) -> None:
        self._press = event.position()
        super().mousePressEvent(event)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        super().mouseReleaseEvent(event)
        press, self._press = self._press, None
        if press is None or event.button() != Qt.MouseButton.LeftButton:
            return
        moved = event.position() - press
        if abs(moved.x()) + abs(moved.y()) > CLICK_SLOP:
            return  # a pan, not a click
        self.click_at(event.position().toPoint())

    def click_at(self, pos) -> None:  # noqa: ANN001 - a QPoint in viewport coordinates
        """What a click at ``pos`` means: a folded block opens, a block's label folds it, a box is selected."""
        for item in self.items(pos):
            frame = _frame_of(item, self.blocks)
            if frame is not None:
                frame.toggle()
                return
            box = _box_of(item)
            if box is not None:
                self.node_clicked.emit(box.node.name)
                return


def _box_of(item: QGraphicsItem | None) -> NodeBox | None:
    while item is not None and not isinstance(item, NodeBox):
        item = item.parentItem()
    return item


def _frame_of(item: QGraphicsItem, blocks: dict[str, BlockFrame]) -> BlockFrame | None:
    """The block whose cover or label ``item`` is (a click there folds or opens it)."""
    for frame in blocks.values():
        if item is frame.label or (frame.folded and (item is frame.cover or item.parentItem() is frame.cover)):
            return frame
    return None


def _arrow_head(back: QPointF, tip: QPointF) -> QGraphicsPathItem:
    dx, dy = tip.x() - back.x(), tip.y() - back.y()
    length = max(1e-6, (dx * dx + dy * dy) ** 0.5)
    ux, uy = dx / length, dy / length
    size = 7.0
    left = QPointF(tip.x() - ux * size - uy * size * 0.5, tip.y() - uy * size + ux * size * 0.5)
    right = QPointF(tip.x() - ux * size + uy * size * 0.5, tip.y() - uy * size - ux * size * 0.5)
    path = QPainterPath()
    path.addPolygon(QPolygonF([tip, left, right, tip]))
    head = QGraphicsPathItem(path)
    head.setBrush(QColor("#555555"))
    head.setPen(QPen(Qt.PenStyle.NoPen))
    head.setZValue(1)
    return head
