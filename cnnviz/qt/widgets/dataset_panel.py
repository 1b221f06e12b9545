"""Browsing dataset samples: previous / next / random, the true label, misclassified only.

The shipped samples work offline; MNIST-style IDX roots and class folders open too. Loading
and the scan for misclassified samples run on the worker thread.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from cnnviz.core.data.datasets import ArrayDataset
from cnnviz.qt.images import to_pixmap

SOURCES = [("MNIST samples (shipped)", "samples-mnist"), ("Fashion-MNIST samples (shipped)", "samples-fashion"),
           ("MNIST test set (folder...)", "mnist"), ("Fashion-MNIST test set (folder...)", "fashion-mnist"),
           ("Class folders (folder...)", "folder")]


class DatasetPanel(QWidget):
    sample_chosen = Signal(object, int)  # image (H, W[, 3]) uint8, true label
    load_requested = Signal(str, str)  # dataset name, root ('' for shipped samples)
    scan_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.data: ArrayDataset | None = None
        self.index = 0
        self.order: np.ndarray = np.zeros(0, np.int64)
        self.predicted: np.ndarray | None = None
        self.rng = np.random.default_rng()
        self.source = QComboBox()
        for text, key in SOURCES:
            self.source.addItem(text, key)
        self.source.activated.connect(self._choose_source)
        self.source.setToolTip("Which samples to browse; the shipped ones work offline.")
        self.preview = QLabel()
        self.preview.setFixedSize(196, 196)
        self.preview.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.position = QLabel("")
        self.truth = QLabel("")
        self.truth.setStyleSheet("font-size:14px;")
        self.misclassified = QCheckBox("Misclassified only")
        self.misclassified.setToolTip("Show only the samples the current model gets wrong.")
        self.misclassified.toggled.connect(self._filter_changed)
        self.scan_note = QLabel("")  # the scan's result stays here (the status bar changes every frame)
        self.scan_note.setWordWrap(True)
        buttons = QHBoxLayout()
        for text, slot, tip in (("◀ Previous", self.previous, "Previous sample (Left)"),
                                ("Random", self.random, "A random sample (R)"),
                                ("Next ▶", self.next, "Next sample (Right)")):
            button = QPushButton(text)
            button.setToolTip(tip)
            button.clicked.connect(slot)
            buttons.addWidget(button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.source)
        layout.addWidget(self.preview, 0, Qt.AlignmentFlag.AlignHCenter)
        layout.addWidget(self.position)
        layout.addWidget(self.truth)
        layout.addLayout(buttons)
        layout.addWidget(self.misclassified)
        layout.addWidget(self.scan_note)
        layout.addStretch(1)

    def _choose_source(self, _index: int = 0) -> None:
        key = self.source.currentData()
        root = ""
        if not key.startswith("samples-"):
            root = QFileDialog.getExistingDirectory(self, "Choose the data folder")
            if not root:
                return
        self.load_requested.emit(key, root)

    def set_data(self, data: ArrayDataset) -> None:
        self.data = data
        self.predicted = None
        self.scan_note.clear()
        self.misclassified.blockSignals(True)
        self.misclassified.setChecked(False)
        self.misclassified.blockSignals(False)
        self.order = np.arange(len(data))
        self.index = 0
        self._show()

    def set_predictions(self, predicted: np.ndarray) -> None:
        """Predicted labels for every sample, from a scan on the worker: apply the filter."""
        self.predicted = predicted
        if self.data is None:
            return
        if self.misclassified.isChecked():
            self.order = np.nonzero(predicted != self.data.labels)[0]
        else:
            self.order = np.arange(len(self.data))
        self.index = 0
        self._show()

    def _filter_changed(self, on: bool) -> None:
        if on:
            self.scan_requested.emit()
        elif self.data is not None:
            self._every_sample()
            self._show()

    def _every_sample(self) -> None:
        assert self.data is not None
        self.scan_note.clear()
        self.order = np.arange(len(self.data))

    def previous(self) -> None:
        self._step(-1)

    def next(self) -> None:
        self._step(1)

    def random(self) -> None:
        if len(self.order):
            self.index = int(self.rng.integers(len(self.order)))
            self._show()

    def show_sample(self, index: int) -> None:
        """Go to sample ``index`` of the dataset; the misclassified filter is left if it hides that one."""
        if self.data is None or not 0 <= index < len(self.data):
            return
        where = np.nonzero(self.order == index)[0]
        if not len(where):
            self.misclassified.blockSignals(True)  # (unchecking would show the first sample on the way)
            self.misclassified.setChecked(False)
            self.misclassified.blockSignals(False)
            self._every_sample()
            where = np.array([index])
        self.index = int(where[0])
        self._show()

    def _step(self, delta: int) -> None:
        if len(self.order):
            self.index = (self.index + delta) % len(self.order)
            self._show()

    def current(self) -> tuple[np.ndarray, int] | None:
        if self.data is None or not len(self.order):
            return None
        i = int(self.order[self.index])
        return self.data.images[i], int(self.data.labels[i])

    def true_name(self) -> str:
        sample = self.current()
        return self.data.class_names[sample[1]] if sample and self.data else ""

    def _show(self) -> None:
        sample = self.current()
        if sample is None:
            self.preview.clear()
            self.position.setText("no samples match" if self.data is not None else "")
            self.truth.setText("")
            return
        image, label = sample
        self.preview.setPixmap(to_pixmap(image).scaled(196, 196, Qt.AspectRatioMode.KeepAspectRatio))
        filtered = " misclassified" if self.misclassified.isChecked() else ""
        self.position.setText(f"sample {self.index + 1} of {len(self.order)}{filtered} "
                              f"(#{int(self.order[self.index])} of {len(self.data)})")
        self.truth.setText(f"true label: <b>{self.data.class_names[label]}</b>")
        self.sample_chosen.emit(image, label)

    def show_prediction(self, predicted: str) -> None:
        sample = self.current()
        if sample is None or self.data is None:
            return
        truth = self.data.class_names[sample[1]]
        mark = "<span style='color:#1a9850'>right</span>" if predicted == truth else \
            "<span style='color:#b2182b'>wrong</span>"
        self.truth.setText(f"true label: <b>{truth}</b> &nbsp; predicted: <b>{predicted}</b> ({mark})")
