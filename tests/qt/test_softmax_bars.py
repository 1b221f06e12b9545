"""The softmax bars lay their text out once per string and still paint what drawText would."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("PySide6")

from PySide6.QtCore import QRectF, Qt  # noqa: E402
from PySide6.QtGui import QColor, QFont, QImage, QPainter  # noqa: E402

from cnnviz.qt.views.softmax_bars import SoftmaxBars  # noqa: E402

TOP = [("Greater Swiss Mountain dog", 0.512), ("spider monkey", 0.201), ("water snake", 0.1),
       ("hand-held computer", 0.07), ("tarantula", 0.006)]


def reference(bars: SoftmaxBars) -> QImage:
    """The bars as plain QPainter.drawText draws them (laying the text out on every paint)."""
    image = QImage(bars.size(), QImage.Format.Format_ARGB32_Premultiplied)
    painter = QPainter(image)
    painter.setFont(bars.font())
    painter.fillRect(image.rect(), QColor(255, 255, 255))
    metrics = painter.fontMetrics()
    row = min(metrics.height() * 1.9, bars.height() / len(bars.top))
    label_w = min(metrics.horizontalAdvance("M") * 12.0, bars.width() * 0.4)
    number_w = metrics.horizontalAdvance("100.0%") + 10
    for i, (name, p) in enumerate(bars.top):
        y = i * row
        bar_w = max(0.0, (bars.width() - label_w - number_w) * p)
        colour = QColor(214, 96, 77) if i == 0 else QColor(67, 147, 195)
        painter.fillRect(QRectF(label_w, y + 4, bar_w, row - 8), colour)
        painter.setPen(QColor(0, 0, 0))
        text = metrics.elidedText(name, Qt.TextElideMode.ElideRight, int(label_w - 8))
        right = Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignRight
        painter.drawText(QRectF(4, y, label_w - 8, row), right, text)
        painter.drawText(QRectF(label_w + bar_w + 4, y, number_w, row), Qt.AlignmentFlag.AlignVCenter,
                         f"{p * 100:.1f}%")
    painter.end()
    return image


def pixels(image: QImage) -> np.ndarray:
    image = image.convertToFormat(QImage.Format.Format_RGB888)
    return np.frombuffer(image.constBits(), np.uint8).reshape(image.height(), image.bytesPerLine()).copy()


@pytest.mark.parametrize(("size", "points"), [((380, 300), None), ((260, 160), None), ((500, 420), 20.0)])
def test_the_bars_paint_what_drawtext_would(qtbot, size, points) -> None:  # noqa: ANN001
    bars = SoftmaxBars()
    qtbot.addWidget(bars)
    if points:  # presenter mode's larger font: the laid-out text must follow it
        bars.set_top(TOP)
        bars.grab()
        font = QFont(bars.font())
        font.setPointSizeF(points)
        bars.setFont(font)
    bars.resize(*size)
    bars.set_top(TOP)
    shown = pixels(bars.grab().toImage())
    assert np.array_equal(shown, pixels(reference(bars)))
    assert (shown < 100).sum() > 200  # text was drawn


def test_the_laid_out_text_is_kept_and_bounded(qtbot) -> None:
    bars = SoftmaxBars()
    qtbot.addWidget(bars)
    bars.resize(380, 300)
    bars.set_top(TOP)
    bars.grab()
    kept = bars.laid_out
    assert kept == 2 * len(TOP)  # names and percentages
    bars.grab()
    assert bars.laid_out == kept  # a repaint lays nothing out again
    for i in range(3000):  # many distinct readings: the cache is cleared when full, never unbounded
        bars.set_top([(f"class {i}", (i % 1000) / 1000)])
        bars.grab()
    assert bars.laid_out <= 4097
