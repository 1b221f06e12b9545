"""Snapshots: the current maps, input and prediction kept as a picture beside the live view, so a
teacher can point at 'before' while the class draws 'after'."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import QDockWidget, QLabel, QListWidget, QListWidgetItem, QPushButton, QVBoxLayout, QWidget

MAX_SNAPSHOTS = 12


class SnapshotDock(QDockWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Snapshots", parent)
        self.setObjectName("snapshots")
        self.picture = QLabel("")
        self.picture.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.picture.setMinimumSize(260, 200)
        self.caption = QLabel("")
        self.caption.setWordWrap(True)
        self.list = QListWidget()
        self.list.setMaximumHeight(110)
        self.list.currentRowChanged.connect(self._show)
        clear = QPushButton("Clear snapshots")
        clear.clicked.connect(self.clear)
        body = QWidget()
        layout = QVBoxLayout(body)
        layout.addWidget(self.picture, 1)
        layout.addWidget(self.caption)
        layout.addWidget(self.list)
        layout.addWidget(clear)
        self.setWidget(body)
        self.snapshots: list[tuple[QPixmap, str]] = []

    def add(self, pixmap: QPixmap, caption: str) -> None:
        self.snapshots.append((pixmap, caption))
        del self.snapshots[:-MAX_SNAPSHOTS]
        self.list.clear()
        for i, (_p, text) in enumerate(self.snapshots):
            self.list.addItem(QListWidgetItem(f"{i + 1}. {text.splitlines()[0]}"))
        self.list.setCurrentRow(len(self.snapshots) - 1)
        self.show()

    def clear(self) -> None:
        self.snapshots.clear()
        self.list.clear()
        self.picture.clear()
        self.caption.clear()

    def _show(self, row: int) -> None:
        if 0 <= row < len(self.snapshots):
            pixmap, caption = self.snapshots[row]
            self.picture.setPixmap(pixmap.scaled(self.picture.size(), Qt.AspectRatioMode.KeepAspectRatio,
                                                 Qt.TransformationMode.SmoothTransformation))
            self.caption.setText(caption)

    def resizeEvent(self, event) -> None:  # noqa: ANN001
        super().resizeEvent(event)
        self._show(self.list.currentRow())
