"""One input through one model: preprocessing, capture and top-k, shared by the CLI and the GUI."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from cnnviz.core.data.imageio import read_image
from cnnviz.core.engine.capture import Capture, capture
from cnnviz.core.engine.preprocess import Prepared, prepare
from cnnviz.core.errors import InputMismatchError
from cnnviz.core.models.zoo import ModelSpec, spec_of


@dataclass
class Prediction:
    top: list[tuple[str, float]]
    prepared: Prepared
    capture: Capture
    notes: list[str] = field(default_factory=list)


def top_k(probabilities: torch.Tensor, names: tuple[str, ...], k: int) -> list[tuple[str, float]]:
    p = probabilities.reshape(-1).float().cpu()
    values, indices = torch.topk(p, min(k, p.numel()))
    return [(names[i] if i < len(names) else f"class {i}", float(v)) for v, i in zip(values, indices.tolist(),
                                                                                      strict=True)]


def occlude(prepared: Prepared, spec: ModelSpec, box: tuple[int, int, int]) -> None:
    """Grey out a square (top, left, size in model-input pixels): the dataset's mean colour, which is 0 after
    normalisation, so the covered pixels carry no evidence either way. Shown in the model's view too."""
    top, left, size = (int(v) for v in box)
    _, height, width = prepared.tensor.shape
    top, left = max(0, min(top, height - 1)), max(0, min(left, width - 1))
    bottom, right = min(height, top + max(1, size)), min(width, left + max(1, size))
    prepared.tensor[:, top:bottom, left:right] = 0.0
    name, view = prepared.steps[-1]
    view = view.copy()
    grey = np.asarray(spec.mean, np.float32) * 255.0
    view[top:bottom, left:right] = np.round(grey if view.ndim == 3 else grey.mean()).astype(np.uint8)
    prepared.steps[-1] = (f"{name} (occluded)", view)


def exact_input(tensor: torch.Tensor, picture: np.ndarray) -> Prepared:
    """A model input given as the tensor itself (an adversarial one: preparing its picture again would
    move the pixels the attack chose), with ``picture`` as what the views show of it."""
    return Prepared(tensor.detach().float().cpu().clone().contiguous(), [("the exact model input", picture)],
                    ["the exact model input is used as it is (not prepared again)."])


def run_image(model: nn.Module, rgb: np.ndarray, k: int = 5,
              occlusion: tuple[int, int, int] | None = None, tensor: torch.Tensor | None = None) -> Prediction:
    """Prepare an RGB image for ``model``'s spec, capture every stage, and rank the classes.

    ``occlusion`` (top, left, size) greys out a square of the model input first (the occlusion explorer).
    ``tensor``, when given, is the model input itself (``rgb`` is then only its picture): see exact_input.
    """
    spec = spec_of(model)
    prepared = prepare(rgb, spec) if tensor is None else exact_input(tensor, rgb)
    if occlusion is not None:
        occlude(prepared, spec, occlusion)
    result = capture(model, prepared.tensor)
    if result.probabilities is None:
        raise InputMismatchError(f"{spec.name} does not output class scores, so there is nothing to rank.")
    return Prediction(top_k(result.probabilities, spec.class_names, k), prepared, result,
                      list(prepared.notes) + list(spec.notes))


def warm_up(model: nn.Module) -> None:
    """One forward pass on a blank input of the model's size, the way frames run, result discarded.

    The first pass over a model traces it (torch.fx), checks the packed convolution weights against
    PyTorch's own result and allocates its buffers: 102 ms for LeNet-5 and 106 ms for ResNet-18 in the
    app, against 2 and 26-32 ms for the next frames. Done when a model is loaded, the first picture a user sees is not
    the slow one, and the forward time the window shows for it is the real one."""
    _channels, height, width = spec_of(model).input_shape
    with torch.no_grad():
        run_image(model, np.zeros((height, width, 3), np.uint8), k=1)


def predict_image(model: nn.Module, path: str | Path, k: int = 5) -> Prediction:
    image = read_image(path)
    prediction = run_image(model, image.rgb, k)
    prediction.notes[:0] = image.notes
    if prediction.prepared.empty:
        prediction.notes.append("no ink was found in the image; the prediction is for an empty canvas.")
    return prediction
