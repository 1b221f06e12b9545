"""A kernel as a grid of cells: colour shows the weight (blue negative, red positive), the
number is written in the cell. Left-drag raises weights, right-drag lowers them, a double
click types a value. An invalid entry is refused at the cell with its reason, and the last
valid kernel stays in use.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QRect, Qt, Signal
from PySide6.QtGui import QColor, QMouseEvent, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import QLineEdit, QSizePolicy, QWidget

from cnnviz.core.engine.render import colormap
from cnnviz.core.errors import KernelError
from cnnviz.core.lab.kernel_edit import parse_cell


class KernelGrid(QWidget):
    changed = Signal(object)  # the new kernel (np.ndarray)
    invalid = Signal(str)  # the reason an entry was refused ('' when cleared)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.kernel = np.zeros((3, 3), np.float32)
        self.step = 0.5
        self.error: tuple[int, int, str] | None = None
        self._visited: set[tuple[int, int]] = set()
        self._sign = 0
        self._editor: QLineEdit | None = None
        self.setMinimumSize(180, 180)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMouseTracking(True)
        self.setToolTip("Left-drag raises weights, right-drag lowers them, double-click types a value.")

    def set_kernel(self, kernel: np.ndarray) -> None:
        self.kernel = np.array(kernel, np.float32)
        self.error = None
        self.update()

    # ---- geometry -----------------------------------------------------------------------
    def _cell_size(self) -> int:
        h, w = self.kernel.shape
        return max(8, min((self.width() - 2) // w, (self.height() - 2) // h))

    def cell_rect(self, row: int, col: int) -> QRect:
        size = self._cell_size()
        return QRect(1 + col * size, 1 + row * size, size, size)

    def cell_at(self, x: float, y: float) -> tuple[int, int] | None:
        size = self._cell_size()
        row, col = int((y - 1) // size), int((x - 1) // size)
        h, w = self.kernel.shape
        return (row, col) if 0 <= row < h and 0 <= col < w and x >= 1 and y >= 1 else None

    # ---- editing --------------------------------------------------------------------------
    def set_cell_text(self, row: int, col: int, text: str) -> bool:
        """Type ``text`` into a cell: True if accepted; otherwise the reason is shown at the cell."""
        try:
            value = parse_cell(text)
        except KernelError as exc:
            self.error = (row, col, str(exc))
            self.setToolTip(f"Row {row + 1}, column {col + 1}: {exc}. The last valid kernel stays in use.")
            self.invalid.emit(f"row {row + 1}, column {col + 1}: {exc}")
            self.update()
            return False
        self.error = None
        self.invalid.emit("")
        kernel = self.kernel.copy()
        kernel[row, col] = value
        self.kernel = kernel
        self.update()
        self.changed.emit(kernel.copy())
        return True

    def _nudge(self, row: int, col: int, sign: int) -> None:
        kernel = self.kernel.copy()
        kernel[row, col] = np.round(kernel[row, col] + sign * self.step, 4)
        self.kernel = kernel
        self.error = None
        self.update()
        self.changed.emit(kernel.copy())

    def mousePressEvent(self, event: QMouseEvent) -> None:
        cell = self.cell_at(event.position().x(), event.position().y())
        if cell is None:
            return
        self._sign = 1 if event.button() == Qt.MouseButton.LeftButton else -1
        self._before = self.kernel.copy()
        self._visited = {cell}
        self._nudge(*cell, self._sign)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if not self._sign:
            return
        cell = self.cell_at(event.position().x(), event.position().y())
        if cell is not None and cell not in self._visited:
            self._visited.add(cell)
            self._nudge(*cell, self._sign)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        self._sign = 0
        self._visited = set()

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:
        cell = self.cell_at(event.position().x(), event.position().y())
        if cell is None:
            return
        row, col = cell
        if getattr(self, "_before", None) is not None:  # the click before the double click nudged: undo it
            self.kernel = self._before
            self._before = None
            self.changed.emit(self.kernel.copy())
        editor = QLineEdit(self)
        editor.setText(f"{self.kernel[row, col]:g}")
        editor.setGeometry(self.cell_rect(row, col))
        editor.selectAll()
        editor.editingFinished.connect(lambda: self._finish(editor, row, col))
        editor.show()
        editor.setFocus()
        self._editor = editor

    def _finish(self, editor: QLineEdit, row: int, col: int) -> None:
        if self.set_cell_text(row, col, editor.text()):
            editor.deleteLater()
            self._editor = None
        else:
            editor.setStyleSheet("border:2px solid #b2182b;")
            editor.setToolTip(self.error[2] if self.error else "")

    # ---- painting -------------------------------------------------------------------------
    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        lut = colormap("diverging")
        scale = float(np.abs(self.kernel).max()) or 1.0
        h, w = self.kernel.shape
        font = painter.font()
        font.setPointSizeF(max(6.0, self._cell_size() / 5))
        painter.setFont(font)
        for row in range(h):
            for col in range(w):
                value = float(self.kernel[row, col])
                index = int(round(127.5 + 127.5 * value / scale))
                r, g, b = (int(c) for c in lut[max(0, min(255, index))])
                rect = self.cell_rect(row, col)
                painter.fillRect(rect, QColor(r, g, b))
                painter.setPen(QColor(255, 255, 255) if abs(value) / scale > 0.6 else QColor(0, 0, 0))
                painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, f"{value:.3g}")
                painter.setPen(QPen(QColor(160, 160, 160), 1))
                painter.drawRect(rect)
        if self.error is not None:
            row, col, _reason = self.error
            painter.setPen(QPen(QColor(178, 24, 43), 3))
            painter.drawRect(self.cell_rect(row, col).adjusted(1, 1, -1, -1))
        painter.end()
