"""The controller's slow input work, done on the worker: an image file read, a dataset loaded, the
misclassified samples found."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from cnnviz.core.data.datasets import ArrayDataset
from cnnviz.core.data.datasets import load_dataset as read_dataset
from cnnviz.core.data.imageio import ImageData, read_image
from cnnviz.core.train.evaluation import predict_samples
from cnnviz.qt.worker import Loaded

if TYPE_CHECKING:
    from cnnviz.qt.controller import Controller


def open_image(controller: Controller, path: str) -> None:
    controller.status.emit(f"opening {Path(path).name}...")

    def done(image: object) -> None:
        assert isinstance(image, ImageData)
        controller.image_opened.emit(str(Path(path).resolve()))
        controller.use_image(image.rgb, " ".join(image.notes))

    controller.run_job("image", lambda _loaded: read_image(path), done)


def load_dataset(controller: Controller, name: str, root: str) -> None:
    controller.run_job("dataset", lambda _loaded: read_dataset(name, root or None, train=False),
                       controller.dataset_loaded.emit)


def scan_dataset(controller: Controller, data: ArrayDataset) -> None:
    controller.status.emit("looking for misclassified samples...")
    model_name = controller.state.model

    def scan(loaded: Loaded) -> np.ndarray:
        assert loaded.model is not None
        return predict_samples(loaded.model, data.images)

    def done(result: object) -> None:
        predicted = np.asarray(result)
        wrong = int((predicted != data.labels).sum())
        controller.status.emit(f"{wrong} of {len(predicted)} samples are misclassified by {model_name}.")
        controller.predictions_ready.emit(predicted)

    controller.run_job("scan", scan, done)
