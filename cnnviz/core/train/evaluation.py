"""Accuracy, per-class accuracy and the confusion matrix of a model on a dataset."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from cnnviz.core.data.datasets import ArrayDataset
from cnnviz.core.data.imageio import to_rgb_uint8
from cnnviz.core.engine.preprocess import prepare
from cnnviz.core.models.zoo import spec_of


@dataclass(frozen=True)
class Evaluation:
    accuracy: float
    per_class: dict[str, float]
    confusion: list[list[int]]
    n: int

    def to_json(self) -> dict:
        return {"accuracy": self.accuracy, "per_class": self.per_class, "confusion": self.confusion, "n": self.n}

    def format(self) -> str:
        lines = [f"Accuracy of the network on the {self.n} test images: {self.accuracy * 100:.2f} %"]
        lines += [f"Accuracy of {name:>5s} : {acc * 100:.0f} %" for name, acc in self.per_class.items()]
        lines.append("Confusion matrix (rows: true class, columns: predicted):")
        lines += [" ".join(f"{v:5d}" for v in row) for row in self.confusion]
        return "\n".join(lines)


def to_tensor(images: np.ndarray, mean: tuple[float, ...], std: tuple[float, ...]) -> torch.Tensor:
    """uint8 (N, H, W[, C]) -> normalised float32 (N, C, H, W)."""
    x = torch.from_numpy(np.ascontiguousarray(images)).float().div_(255.0)
    x = x.unsqueeze(1) if x.dim() == 3 else x.permute(0, 3, 1, 2)
    m = torch.tensor(mean).view(1, -1, 1, 1)
    s = torch.tensor(std).view(1, -1, 1, 1)
    return ((x - m) / s).contiguous()


@torch.no_grad()
def predict_batches(model: nn.Module, x: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
    device = next(model.parameters()).device
    model.eval()
    out = [model(x[i:i + batch_size].to(device)).argmax(1).cpu() for i in range(0, len(x), batch_size)]
    return torch.cat(out) if out else torch.empty(0, dtype=torch.long)


def predict_samples(model: nn.Module, images: np.ndarray) -> np.ndarray:
    """Class indices for dataset samples as the app predicts each one when it is the input: through the
    model's own preprocessing (the same pixels the live view gives it), batched through
    :func:`predict_batches`, so a sample marked misclassified is misclassified when it is clicked."""
    spec = spec_of(model)
    if len(images) == 0:
        return np.zeros(0, np.int64)
    x = torch.stack([prepare(to_rgb_uint8(image), spec).tensor for image in images])
    return predict_batches(model, x).numpy()


def evaluate(model: nn.Module, data: ArrayDataset, mean: tuple[float, ...], std: tuple[float, ...],
             class_names: tuple[str, ...] | None = None) -> Evaluation:
    names = class_names or data.class_names
    predicted = predict_batches(model, to_tensor(data.images, mean, std)).numpy()
    return score(data.labels, predicted, names)


def score(labels: np.ndarray, predicted: np.ndarray, names: tuple[str, ...]) -> Evaluation:
    k = len(names)
    confusion = np.zeros((k, k), np.int64)
    np.add.at(confusion, (labels, np.clip(predicted, 0, k - 1)), 1)
    totals = confusion.sum(1)
    per_class = {names[i]: float(confusion[i, i] / totals[i]) if totals[i] else 0.0 for i in range(k)}
    n = int(len(labels))
    accuracy = float(np.trace(confusion) / n) if n else 0.0
    return Evaluation(accuracy, per_class, confusion.tolist(), n)
