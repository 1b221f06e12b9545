"""Top-k class probabilities as horizontal bars, the winner highlighted."""

from __future__ import annotations

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QPainter, QPaintEvent
from PySide6.QtWidgets import QWidget


class SoftmaxBars(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMinimumSize(240, 150)
        self.setToolTip("Softmax: the probability the model gives each class; the top one is its answer.")
        self.top: list[tuple[str, float]] = []

    def set_top(self, top: list[tuple[str, float]]) -> None:
        shown = [(name, round(p, 3)) for name, p in top]
        if shown == [(name, round(p, 3)) for name, p in self.top]:
            return  # nothing visible changed (text to 0.1 %, bars to a pixel): skip the repaint
        self.top = list(top)
        self.setToolTip("Softmax: the probability the model gives each class; the top one is its answer.\n"
                        + "\n".join(f"{n}: {p * 100:.1f} %" for n, p in self.top))
        self.update()

    def set_presenter(self, on: bool) -> None:
        self.update()  # the bars follow the (larger) font

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor(255, 255, 255))
        if not self.top:
            painter.end()
            return
        metrics = painter.fontMetrics()
        row = min(metrics.height() * 1.9, self.height() / max(1, len(self.top)))
        label_w = min(metrics.horizontalAdvance("M") * 12.0, self.width() * 0.4)
        number_w = metrics.horizontalAdvance("100.0%") + 10
        for i, (name, p) in enumerate(self.top):
            y = i * row
            bar_w = max(0.0, (self.width() - label_w - number_w) * p)
            painter.fillRect(QRectF(label_w, y + 4, bar_w, row - 8),
                             QColor(214, 96, 77) if i == 0 else QColor(67, 147, 195))
            painter.setPen(QColor(0, 0, 0))
            align = Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignRight
            text = metrics.elidedText(name, Qt.TextElideMode.ElideRight, int(label_w - 8))
            painter.drawText(QRectF(4, y, label_w - 8, row), align, text)

            painter.drawText(QRectF(label_w + bar_w + 4, y, number_w, row), Qt.AlignmentFlag.AlignVCenter,
                             f"{p * 100:.1f}%")
        painter.end()
