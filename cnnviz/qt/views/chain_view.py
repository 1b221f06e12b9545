"""One channel followed through its block: conv, (norm,) ReLU and pool side by side."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHBoxLayout, QLabel, QVBoxLayout, QWidget

from cnnviz.qt.images import to_pixmap
from cnnviz.qt.widgets.readout import CENTRE, Readout

SIZE = 96


class ChainView(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.title = Readout("")
        self.row = QHBoxLayout()
        self.cells: list[tuple[QLabel, Readout]] = []  # (picture, caption)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.title)
        layout.addLayout(self.row)
        self.setToolTip("The same channel through conv, ReLU and pool: ReLU keeps the red (positive) part, "
                        "pooling keeps the strongest value of each window.")

    def set_chain(self, chain: tuple[tuple[str, np.ndarray], ...], channel: int) -> None:
        while len(self.cells) < len(chain):
            box = QVBoxLayout()
            image, caption = QLabel(), Readout(align=CENTRE)
            image.setFixedSize(SIZE, SIZE)
            image.setAlignment(Qt.AlignmentFlag.AlignCenter)
            box.addWidget(image)
            box.addWidget(caption)
            self.row.addLayout(box)
            self.cells.append((image, caption))
        for (image, caption), (name, picture) in zip(self.cells, chain, strict=False):
            image.setPixmap(to_pixmap(picture).scaled(SIZE, SIZE, Qt.AspectRatioMode.KeepAspectRatio))
            caption.setText(name)
        for image, caption in self.cells[len(chain):]:
            image.clear()
            caption.clear()
        self.title.setText(f"Channel {channel} through its block" if chain else "")
