"""The weights of the selected conv stage: first-layer RGB filters in colour, deeper ones per input channel."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QSize, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSpinBox, QVBoxLayout, QWidget

from cnnviz.qt.images import to_pixmap
from cnnviz.qt.widgets.picture import Picture
from cnnviz.qt.widgets.readout import Readout


class FiltersView(QWidget):
    in_channel_changed = Signal(object)  # int or None (mean over input channels / RGB)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.title = Readout("Filters")
        self.image = Picture(QSize(120, 120), max_side=360)  # (a new picture re-lays nothing out)
        self.channel = QSpinBox()
        self.channel.setRange(-1, 4096)
        self.channel.setSpecialValueText("mean / RGB")
        self.channel.setValue(-1)
        self.channel.setToolTip("Which input channel of each filter to show; 'mean / RGB' averages them "
                                "(or shows a first layer's filters in colour).")
        self.channel.valueChanged.connect(lambda v: self.in_channel_changed.emit(None if v < 0 else v))
        row = QHBoxLayout()
        row.addWidget(self.title, 1)
        row.addWidget(QLabel("input channel"))
        row.addWidget(self.channel)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(row)
        layout.addWidget(self.image, 1)
        self.setToolTip("The weights that made these maps: red positive, blue negative.")

    def set_filters(self, name: str, grid: np.ndarray | None, value_range: tuple[float, float] | None) -> None:
        if grid is None:
            self.title.setText("Filters: (this stage has no conv weights)")
            self.image.set_pixmap(None)
            return
        low, high = value_range or (0.0, 0.0)
        self.title.setText(f"Filters of {name}: weights {low:.3f} .. {high:.3f}")
        self.image.set_pixmap(to_pixmap(grid))
