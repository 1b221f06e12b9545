"""The choice a model without its weights offers, in the window: random weights, a weights file, or the
download (when online). Meanwhile the last good model (or, at start, the default one) stays usable."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from PySide6.QtWidgets import QFileDialog, QFrame, QHBoxLayout, QLabel, QPushButton, QWidget

from cnnviz.core.models.torchvision_weights import torchvision_cache_path
from cnnviz.core.models.zoo import ModelSpec, registry
from cnnviz.qt.controller import Controller


def install_weights(source: str | Path, target: Path) -> Path:
    """Copy a weights file to where torch's cache keeps it (via a temporary name: never half a file)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".part")
    try:
        shutil.copyfile(source, partial)
        partial.replace(target)
    finally:
        partial.unlink(missing_ok=True)
    return target


class WeightsChoice(QFrame):
    def __init__(self, controller: Controller, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.name = ""
        self.setStyleSheet("WeightsChoice{background:#fff4d6;border:1px solid #e0b84c;border-radius:3px;}")
        self.text = QLabel("")
        self.text.setWordWrap(True)
        self.random = QPushButton("Explore it with random weights")
        self.file = QPushButton("Open the weights file...")
        self.download = QPushButton("Download the weights")
        layout = QHBoxLayout(self)
        layout.addWidget(self.text, 1)
        for button in (self.random, self.file, self.download):
            layout.addWidget(button)
        self.random.clicked.connect(lambda: controller.load_model(self.name, untrained=True))
        self.file.clicked.connect(self._open_file)
        self.download.clicked.connect(lambda: controller.load_model(self.name, untrained=False))
        controller.weights_missing.connect(self.offer)
        controller.model_loaded.connect(self._loaded)
        self.hide()

    def offer(self, name: str, _message: str) -> None:
        self.name = name
        spec = registry().get(name)
        where = torchvision_cache_path(spec.arch, spec.weights) if spec is not None else None
        online = os.environ.get("CNNVIZ_OFFLINE", "") in ("", "0")
        self.text.setText(f"<b>The trained weights of {name} are not on this computer</b>"
                          + (f" (torch's cache keeps them at {where})" if where else "")
                          + f". Meanwhile {self.controller.state.model} stays open.")
        self.download.setVisible(online)
        self.download.setToolTip("Try the download (it failed or was not allowed the last time).")
        self.show()

    def _open_file(self) -> None:
        spec = registry().get(self.name)
        path, _ = QFileDialog.getOpenFileName(self, f"Weights of {self.name}", "", "Weights (*.pth *.pt);;All (*)")
        if path and spec is not None:
            self.use_file(path)

    def use_file(self, path: str) -> None:
        """Put the file where the cache keeps it (on the worker: weights are large), then load the model."""
        spec = registry()[self.name]
        target = torchvision_cache_path(spec.arch, spec.weights)
        name = self.name
        self.controller.run_job("install-weights", lambda _loaded: install_weights(path, target),
                                lambda _target: self.controller.load_model(name, untrained=False))

    def _loaded(self, spec: ModelSpec, _description: str) -> None:
        if spec.name == self.name:
            self.hide()
