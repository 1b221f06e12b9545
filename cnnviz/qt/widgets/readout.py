"""One line of text that changes while the model runs: timings, value ranges, the selected stage.

A QLabel asks for a new layout with every new text (unless its size is fixed), and Qt then
re-lays out every layout from the label up to the window; where the chain passes a QTabWidget
(the Network and Kernel lab tabs), the tab widget repaints everything it holds. In the kernel
lab that was a repaint of the whole panel, ~7 ms, with every edit. A readout's size hints only
change when its text grows wider than any text it has shown, so a new reading repaints the
readout alone. An ``elide`` readout (the status line) asks for no width at all and cuts a long
text short, its tool tip then showing all of it; the others ask for their widest text.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QSize, Qt
from PySide6.QtGui import QPainter, QPaintEvent
from PySide6.QtWidgets import QSizePolicy, QToolTip, QWidget

LEFT = Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter
CENTRE = Qt.AlignmentFlag.AlignCenter


class Readout(QWidget):
    def __init__(self, text: str = "", align: Qt.AlignmentFlag = LEFT, elide: bool = False,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._text = ""
        self._widest = 0  # the widest text shown so far (pixels): the width this readout asks for
        self._align = align
        self._elide = elide
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
        self.setText(text)

    def text(self) -> str:
        return self._text

    def setText(self, text: str) -> None:  # noqa: N802 - QLabel's name, so a readout can stand in for one
        if text == self._text:
            return
        self._text = text
        width = self.fontMetrics().horizontalAdvance(text)
        if width > self._widest:  # (rare: a new layout only when the text needs more room than ever before)
            self._widest = width
            self.updateGeometry()
        self.update()

    def clear(self) -> None:
        self.setText("")

    def sizeHint(self) -> QSize:
        return QSize(self._widest + 4, self.fontMetrics().height() + 2)

    def minimumSizeHint(self) -> QSize:
        return QSize(0, self.fontMetrics().height() + 2) if self._elide else self.sizeHint()

    def changeEvent(self, event: QEvent) -> None:
        if event.type() == QEvent.Type.FontChange:  # presenter mode: a larger font needs a taller line
            self._widest = self.fontMetrics().horizontalAdvance(self._text)
            self.updateGeometry()
        super().changeEvent(event)

    def paintEvent(self, event: QPaintEvent) -> None:
        if not self._text:
            return
        painter = QPainter(self)
        room = self.contentsRect().adjusted(2, 0, -2, 0)
        shown = self.fontMetrics().elidedText(self._text, Qt.TextElideMode.ElideRight, room.width()) \
            if self._elide else self._text
        painter.drawText(room, self._align, shown)
        painter.end()

    def elided(self) -> bool:
        """Whether the text is wider than the readout, so that it is drawn cut short (an ``elide`` readout)."""
        room = self.contentsRect().width() - 4
        return self.fontMetrics().horizontalAdvance(self._text) > room

    def event(self, event: QEvent) -> bool:
        if event.type() == QEvent.Type.ToolTip and self.elided():  # the whole text of a cut-off reading
            tip = self._text + (f"\n\n{self.toolTip()}" if self.toolTip() else "")
            QToolTip.showText(event.globalPos(), tip, self)
            return True
        return super().event(event)
