"""Convolution in motion, drawn: one position of a conv's (or pool's) sliding window.

Above: the model input with the position's receptive field, the stage's input with its padded border and
the window (the next position dashed, so the stride shows), and the output map filling in. Below: the
arithmetic of this position, the patch of each input channel times the kernel, the products, the
per-channel sums, the total with the bias and the ReLU after it; for a pool, which value wins.
The pictures are coloured once per sweep; a step only repaints (the arithmetic of one position is a few
hundred multiplications, done by the core's ConvSweep).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QFont, QImage, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

from cnnviz.core.engine.receptive import Field
from cnnviz.core.engine.render import colormap
from cnnviz.core.teach.convolution_steps import ConvSweep, StepDetail
from cnnviz.qt.images import to_qimage

MAX_ROWS = 3  # input channels shown as grids (the others are summed in one line)
WINDOW = QColor("#ea580c")
PAD_RGB = (242, 206, 206)  # the padded border
UNFILLED = 226  # output positions the window has not reached yet (grey)


@dataclass(frozen=True)
class SweepFrame:
    """A sweep of the current input and what is drawn around it (made on the worker)."""

    sweep: ConvSweep
    model_view: np.ndarray  # what the model received, as an image (grey or RGB uint8)
    field: Field | None  # the receptive field of the stage's outputs on the model input
    stamp: float = 0.0


def number(value: float) -> str:
    """A value as the view writes it (tests read the same text)."""
    if value == float("-inf"):
        return "pad"
    return f"{value:.3f}" if abs(value) < 100 else f"{value:.1f}"


def _diverging(values: np.ndarray, scale: float | None = None) -> np.ndarray:
    lut = colormap("diverging")
    s = scale if scale is not None else float(np.abs(values[np.isfinite(values)]).max(initial=0.0))
    s = max(s, 1e-12)
    idx = np.clip(np.round((np.nan_to_num(values, neginf=0.0) / s + 1) * 127.5), 0, 255).astype(np.uint8)
    return lut[idx]


def _grey(values: np.ndarray) -> np.ndarray:
    finite = values[np.isfinite(values)]
    lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    t = (np.nan_to_num(values, neginf=lo) - lo) / max(hi - lo, 1e-12)
    g = np.round(t * 255).astype(np.uint8)
    return np.repeat(g[..., None], 3, axis=-1)


class SweepView(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(500, 380)
        self.frame: SweepFrame | None = None
        self.detail: StepDetail | None = None
        self.message = "Select a conv or pool stage to watch its window slide."
        self.summary = ""  # the line with the total (what a learner reads; tests read it too)
        self._model_image: QImage | None = None
        self._input_image: QImage | None = None
        self._output_rgb: np.ndarray | None = None
        self._input_channel = 0

    # ---- what the panel tells it ----------------------------------------------------------
    def set_frame(self, frame: SweepFrame | None, message: str = "") -> None:
        """A new sweep (new input, stage or channel): its pictures coloured once."""
        self.frame = frame
        self.detail = None
        self.message = message
        if frame is None:
            self.summary = ""
            self.update()
            return
        sweep = frame.sweep
        self._model_image = to_qimage(frame.model_view)
        self._input_channel = sweep.channel if sweep.kind != "conv" else 0
        self._output_rgb = _diverging(sweep.captured) if sweep.kind == "conv" else _grey(sweep.captured)
        self._set_input_channel(None)

    def _set_input_channel(self, channel: int | None) -> None:
        assert self.frame is not None
        sweep = self.frame.sweep
        if channel is not None:
            self._input_channel = channel
        plane = sweep.inputs[self._input_channel]
        ph, pw = sweep.padding
        rgb = np.empty((plane.shape[0] + 2 * ph, plane.shape[1] + 2 * pw, 3), np.uint8)
        rgb[:] = PAD_RGB
        rgb[ph:ph + plane.shape[0], pw:pw + plane.shape[1]] = _grey(plane)
        self._input_image = to_qimage(rgb)

    def show_step(self, detail: StepDetail) -> None:
        self.detail = detail
        if self.frame is not None and self.frame.sweep.kind == "conv" and detail.input_channels:
            if detail.input_channels[0] != self._input_channel and self._input_channel not in detail.input_channels:
                self._set_input_channel(detail.input_channels[0])  # (a grouped conv reads other channels)
        self.summary = self._summary(detail)
        self.update()

    def _summary(self, d: StepDetail) -> str:
        assert self.frame is not None
        sweep = self.frame.sweep
        where = f"output ({d.y}, {d.x})"
        if sweep.kind == "conv":
            assert d.per_channel is not None
            sums = float(d.per_channel.astype(np.float64).sum())
            return (f"{where}: sum over {len(d.per_channel)} channel(s) {number(sums)} + bias {number(d.bias)} = "
                    f"{number(d.total)}   ReLU -> {number(d.relu)}")
        if sweep.kind == "max":
            return f"{where}: the largest value wins: {number(d.total)}"
        inside = d.patch[0][d.inside]
        return f"{where}: mean = {number(float(inside.sum()))} / {d.divisor} = {number(d.total)}"

    # ---- painting -------------------------------------------------------------------------
    def paintEvent(self, _event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor("white"))
        if self.frame is None or self.detail is None:
            painter.drawText(self.rect().adjusted(12, 12, -12, -12), Qt.TextFlag.TextWordWrap, self.message)
            painter.end()
            return
        width, height = self.width(), self.height()
        line = painter.fontMetrics().height()
        top = int(height * 0.44)
        third = (width - 32) / 3
        self._pictures(painter, QRectF(8, 4, third, top - 4), QRectF(16 + third, 4, third, top - 4),
                       QRectF(24 + 2 * third, 4, third, top - 4), line)
        self._arithmetic(painter, QRectF(8, top + 6, width - 16, height - top - 10), line)
        painter.end()

    def _fit(self, area: QRectF, h: int, w: int, line: int) -> QRectF:
        """Where an h x w picture goes in ``area`` (below its title line), scaled up in whole pixels."""
        room_w, room_h = area.width(), area.height() - line - 4
        scale = max(1e-3, min(room_w / w, room_h / h))
        if scale >= 1:
            scale = float(int(scale))
        return QRectF(area.x() + (room_w - w * scale) / 2, area.y() + line + 2, w * scale, h * scale)

    def _pictures(self, p: QPainter, left: QRectF, middle: QRectF, right: QRectF, line: int) -> None:
        assert self.frame is not None and self.detail is not None
        frame, d = self.frame, self.detail
        sweep = frame.sweep
        # the model input, and the part of it this position sees
        view = frame.model_view
        target = self._fit(left, view.shape[0], view.shape[1], line)
        p.drawText(left.adjusted(0, 0, 0, -(left.height() - line)), Qt.AlignmentFlag.AlignLeft, "model input")
        p.drawImage(target, self._model_image)
        if frame.field is not None:
            top_, left_, bottom, right_ = frame.field.rect(d.y, d.x, view.shape[0], view.shape[1])
            s = target.width() / view.shape[1]
            p.setPen(QPen(WINDOW, 2))
            p.drawRect(QRectF(target.x() + left_ * s, target.y() + top_ * s, (right_ - left_ + 1) * s,
                              (bottom - top_ + 1) * s))
        # the stage's input, padded, under the window
        ph, pw = sweep.padding
        h, w = sweep.inputs.shape[1] + 2 * ph, sweep.inputs.shape[2] + 2 * pw
        target = self._fit(middle, h, w, line)
        pad = f", padding {ph}" if ph or pw else ""
        title = (f"input channel {self._input_channel}{pad}, stride {sweep.stride[0]}" if not sweep.adaptive
                 else f"input channel {self._input_channel} (adaptive windows)")
        p.setPen(QColor("black"))
        p.drawText(middle.adjusted(0, 0, 0, -(middle.height() - line)), Qt.AlignmentFlag.AlignLeft, title)
        p.drawImage(target, self._input_image)
        s = target.width() / w
        if d.index + 1 < len(sweep):  # the next position, dashed: how far the stride moves the window
            ny, nx = sweep.position(d.index + 1)
            y0, x0, y1, x1 = sweep.box(ny, nx)
            p.setPen(QPen(QColor("#2563eb"), 1.5, Qt.PenStyle.DashLine))
            p.drawRect(QRectF(target.x() + (x0 + pw) * s, target.y() + (y0 + ph) * s, (x1 - x0) * s, (y1 - y0) * s))
        y0, x0, y1, x1 = d.box
        p.setPen(QPen(WINDOW, 2.5))
        p.drawRect(QRectF(target.x() + (x0 + pw) * s, target.y() + (y0 + ph) * s, (x1 - x0) * s, (y1 - y0) * s))
        # the output, filled in up to this position
        assert self._output_rgb is not None
        rgb = self._output_rgb.copy()
        rgb.reshape(-1, 3)[d.index + 1:] = UNFILLED
        target = self._fit(right, sweep.out_h, sweep.out_w, line)
        p.setPen(QColor("black"))
        p.drawText(right.adjusted(0, 0, 0, -(right.height() - line)), Qt.AlignmentFlag.AlignLeft,
                   f"{sweep.stage_name} channel {sweep.channel}: {d.index + 1} of {len(sweep)}")
        p.drawImage(target, to_qimage(rgb))
        s = target.width() / sweep.out_w
        p.setPen(QPen(WINDOW, 2))
        p.drawRect(QRectF(target.x() + d.x * s, target.y() + d.y * s, s, s))

    def _arithmetic(self, p: QPainter, area: QRectF, line: int) -> None:
        assert self.frame is not None and self.detail is not None
        d, sweep = self.detail, self.frame.sweep
        kh, kw = d.patch.shape[1:]
        rows = 1 if sweep.kind != "conv" else min(MAX_ROWS, d.patch.shape[0])
        more = d.patch.shape[0] - rows if sweep.kind == "conv" else 0
        grids = 3 if sweep.kind == "conv" else 1
        symbol_w = p.fontMetrics().horizontalAdvance(" = ") + 8
        sum_w = p.fontMetrics().horizontalAdvance("channel 000: sum -00.000") + 12
        room_h = (area.height() - line * (2 + (1 if more else 0))) / rows - 6
        cell = min((area.width() - sum_w - grids * symbol_w) / (grids * kw), room_h / kh, 56.0)
        cell = max(cell, 2.0)
        font = QFont(p.font())
        font.setPointSizeF(max(5.0, min(cell / 3.6, p.font().pointSizeF() if p.font().pointSizeF() > 0 else 9)))
        y = area.y()
        p.setPen(QColor("black"))
        p.drawText(QRectF(area.x(), y, area.width(), line), Qt.AlignmentFlag.AlignLeft, self._heading())
        y += line + 4
        scale_k = float(np.abs(d.kernel).max()) if d.kernel is not None else None
        scale_p = float(np.abs(d.products).max()) if d.products is not None else None
        for r in range(rows):
            x = area.x()
            grid_h = cell * kh
            cells = [(d.patch[r], _grey(d.patch[r]), d.inside)]
            if sweep.kind == "conv":
                assert d.kernel is not None and d.products is not None
                cells += [(d.kernel[r], _diverging(d.kernel[r], scale_k), None),
                          (d.products[r], _diverging(d.products[r], scale_p), None)]
            for g, (values, colours, inside) in enumerate(cells):
                winner = d.winner if sweep.kind == "max" and g == 0 else None
                self._grid(p, x, y, cell, values, colours, inside, winner, font)
                x += cell * kw
                if g < len(cells) - 1:
                    p.setPen(QColor("black"))
                    sign = "\u00d7" if g == 0 else "="
                    p.drawText(QRectF(x, y, symbol_w, grid_h), Qt.AlignmentFlag.AlignCenter, sign)
                    x += symbol_w
            p.setPen(QColor("black"))
            if sweep.kind == "conv":
                assert d.per_channel is not None
                text = f"  channel {d.input_channels[r]}: sum {number(float(d.per_channel[r]))}"
            else:
                text = f"  {'max' if sweep.kind == 'max' else 'mean'} = {number(d.total)}"
            p.drawText(QRectF(x, y, area.right() - x, grid_h), Qt.AlignmentFlag.AlignVCenter, text)
            y += grid_h + 6
        if more:
            assert d.per_channel is not None
            rest = float(d.per_channel[rows:].astype(np.float64).sum())
            p.drawText(QRectF(area.x(), y, area.width(), line), Qt.AlignmentFlag.AlignLeft,
                       f"... and {more} more input channels, their sums together: {number(rest)}")
            y += line + 2
        bold = QFont(p.font())
        bold.setBold(True)
        p.setFont(bold)
        p.drawText(QRectF(area.x(), y, area.width(), line + 4), Qt.AlignmentFlag.AlignLeft, self.summary)

    def _heading(self) -> str:
        assert self.frame is not None and self.detail is not None
        sweep, d = self.frame.sweep, self.detail
        if sweep.kind == "conv":
            return (f"patch x kernel = products, per input channel (the kernel of output channel {sweep.channel}; "
                    "pink cells are padding, zeros)")
        if sweep.kind == "max":
            return "the window over the input channel: the outlined value wins (max pool)"
        return f"the window over the input channel: its mean (average pool, divided by {d.divisor})"

    def _grid(self, p: QPainter, x: float, y: float, cell: float, values: np.ndarray, colours: np.ndarray,
              inside: np.ndarray | None, winner: tuple[int, int] | None, font: QFont) -> None:
        kh, kw = values.shape
        numbers = cell >= 22
        old = p.font()
        p.setFont(font)
        for i in range(kh):
            for j in range(kw):
                rect = QRectF(x + j * cell, y + i * cell, cell, cell)
                padded = inside is not None and not inside[i, j]
                colour = QColor(*PAD_RGB) if padded else QColor(*(int(c) for c in colours[i, j]))
                p.fillRect(rect, colour)
                p.setPen(QPen(QColor("#9ca3af"), 0.5))
                p.drawRect(rect)
                if numbers:
                    light = colour.lightness() < 110
                    p.setPen(QColor("white") if light else QColor("black"))
                    p.drawText(rect, Qt.AlignmentFlag.AlignCenter, number(float(values[i, j])).replace("0.", ".", 1)
                               if abs(float(values[i, j])) < 1 else number(float(values[i, j])))
        if winner is not None:
            p.setPen(QPen(WINDOW, 3))
            p.drawRect(QRectF(x + winner[1] * cell, y + winner[0] * cell, cell, cell))
        p.setFont(old)
