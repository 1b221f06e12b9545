"""The arithmetic at the hovered pixel: patch x kernel = products; sum + bias = value."""

from __future__ import annotations

import numpy as np
from PySide6.QtWidgets import QLabel, QWidget

from cnnviz.core.engine.arithmetic import ConvArithmetic

MAX_CELLS = 7  # larger kernels are shown as their centre 7x7


def _colour(value: float, scale: float) -> str:
    t = max(-1.0, min(1.0, value / scale)) if scale > 0 else 0.0
    if t >= 0:
        level = int(255 - 120 * t)
        return f"#ff{level:02x}{level:02x}"
    level = int(255 + 120 * t)
    return f"#{level:02x}{level:02x}ff"


def _table(matrix: np.ndarray, digits: int = 2) -> str:
    h, w = matrix.shape
    if h > MAX_CELLS or w > MAX_CELLS:
        top, left = (h - MAX_CELLS) // 2, (w - MAX_CELLS) // 2
        matrix = matrix[top:top + MAX_CELLS, left:left + MAX_CELLS]
    scale = float(np.abs(matrix).max()) or 1.0
    rows = "".join("<tr>" + "".join(f"<td bgcolor='{_colour(v, scale)}' align='right'>{v:.{digits}f}</td>"
                                    for v in row) + "</tr>" for row in matrix)
    return f"<table cellspacing='0' cellpadding='2' style='font-size:9px'>{rows}</table>"


class ArithmeticView(QLabel):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWordWrap(True)
        self.setMinimumWidth(260)
        self.setTextFormat(self.textFormat().RichText)
        self.setToolTip("How the hovered value was computed: each input pixel times its kernel weight, "
                        "all added up, plus the bias.")
        self.show_hint("Hover a pixel of a conv stage's maps to see its arithmetic.")
        self.last: ConvArithmetic | None = None

    def show_hint(self, text: str) -> None:
        self.last = None
        self.setText(f"<i>{text}</i>")

    def show_value(self, stage: str, channel: int, y: int, x: int, value: float) -> None:
        self.last = None
        self.setText(f"<b>{stage}</b> channel {channel} at ({y}, {x}) = <b>{value:.4f}</b>")

    def show_arithmetic(self, stage: str, a: ConvArithmetic) -> None:
        self.last = a
        c = a.strongest_input
        c_in = a.patches.shape[0]
        sums = a.per_channel
        lines = [f"<b>{stage}</b>, filter {a.channel}, output pixel ({a.y}, {a.x})"]
        lines.append(f"input channel {c}{' (the largest contribution of ' + str(c_in) + ')' if c_in > 1 else ''}:")
        lines.append("<table><tr><td>patch</td><td></td><td>kernel</td><td></td><td>products</td></tr><tr>"
                     f"<td>{_table(a.patches[c])}</td><td>&times;</td><td>{_table(a.kernels[c])}</td><td>=</td>"
                     f"<td>{_table(a.products[c])}</td></tr></table>")
        if c_in > 1:
            lines.append(f"sum over channel {c}: {sums[c]:.4f}; over all {c_in} input channels: {sums.sum():.4f}")
        else:
            lines.append(f"sum of products: {sums.sum():.4f}")
        lines.append(f"sum {sums.sum():.4f} + bias {a.bias:.4f} = <b>{a.value:.4f}</b>")
        self.setText("<br>".join(lines))
