"""Why did the network say that? Grad-CAM, HiResCAM and gradient saliency (by Captum), and channel health.

Captum does the attribution maths; this module prepares the input exactly as the live
view does, picks the layer, places the layer's map on the input through its receptive
field, and overlays it on the picture the model really received. It runs on the worker
thread, never the GUI's.

Grad-CAM weighs each channel by its gradient averaged over the map. On the small MNIST
networks the normalised background is not zero, so every background position carries the
same activations and Grad-CAM often lights the empty paper around a digit (what makes a 1
a 1 is partly the ink that is *not* there). HiResCAM (gradient times activation, position
by position, Captum's LayerGradientXActivation) does not average, and stays on the strokes.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

import cv2
import numpy as np
import torch
from torch import nn

from cnnviz.core.engine.capture import Stage
from cnnviz.core.engine.inference import run_image
from cnnviz.core.engine.receptive import Field, receptive_fields
from cnnviz.core.engine.render import colormap
from cnnviz.core.errors import CnnvizError
from cnnviz.core.models.zoo import spec_of

METHODS = ("gradcam", "hirescam", "saliency")
METHOD_LABELS = {"gradcam": "Grad-CAM", "hirescam": "HiResCAM (gradient x activation)",
                 "saliency": "Gradient saliency"}


@dataclass(frozen=True)
class Explanation:
    method: str
    target: int
    target_name: str
    probability: float
    layer: str  # the stage Grad-CAM looked at ('' for saliency)
    heat: np.ndarray  # (H, W) float32 in [0, 1], the size of the model input
    overlay: np.ndarray  # uint8 RGB: the model input with the heat map over it
    model_input: np.ndarray  # uint8, what the model received


@dataclass(frozen=True)
class Layer:
    """A stage Grad-CAM can look at: its name in the capture, the module to hook, and its receptive field."""

    stage: str
    module: str
    field: Field | None


def cam_layers(stages: list[Stage]) -> list[Layer]:
    """Stages with spatial maps that a forward hook can catch on their own: a module called once, or the
    last stage of a block (ResNet's ``layer4.1.relu_1`` is caught as the output of ``layer4.1``)."""
    fields = receptive_fields(stages)
    calls = Counter(s.target for s in stages if s.module is not None)
    last_of_group: dict[str, str] = {}
    for s in stages:
        last_of_group[s.name.rpartition(".")[0]] = s.name
    out = []
    for s in stages:
        if len(s.shape) != 3 or s.shape[1] * s.shape[2] <= 1:
            continue
        group = s.name.rpartition(".")[0]
        if s.module is not None and calls[s.target] == 1:
            out.append(Layer(s.name, s.target, fields.get(s.name)))
        elif group and last_of_group.get(group) == s.name:
            out.append(Layer(s.name, group, fields.get(s.name)))
    return out


def default_layer(layers: list[Layer], stages: list[Stage]) -> Layer:
    """The last layer whose maps are still at least 7 pixels on a side (Grad-CAM's usual choice is the last
    convolutional block; coarser maps than that say little about where)."""
    shapes = {s.name: s.shape for s in stages}
    for layer in reversed(layers):
        if min(shapes[layer.stage][1:]) >= 7:
            return layer
    return layers[-1]


@contextlib.contextmanager
def _out_of_place(model: nn.Module) -> Iterator[None]:
    """In-place ReLUs overwrite the activations whose gradients the attribution needs: switch them off."""
    changed = [m for m in model.modules() if getattr(m, "inplace", False) is True]
    for m in changed:
        m.inplace = False  # type: ignore[assignment]  # torch types Module attributes as Tensor | Module
    try:
        yield
    finally:
        for m in changed:
            m.inplace = True  # type: ignore[assignment]


def explain(model: nn.Module, rgb: np.ndarray, method: str = "gradcam", target: int | None = None,
            stage: str | None = None, magnitude_map: str = "magma", alpha: float = 0.85,
            tensor: torch.Tensor | None = None) -> Explanation:
    """Attribute ``model``'s score for class ``target`` (None: the predicted class) to the input pixels.
    ``tensor``: the exact model input ``rgb`` is the picture of (an adversarial one), used as it is."""
    import os

    os.environ.setdefault("MPLBACKEND", "Agg")  # captum imports pyplot: never a GUI backend on the worker
    from captum.attr import LayerGradCam, LayerGradientXActivation, Saliency

    if method not in METHODS:
        raise CnnvizError(f"Unknown explanation {method!r}; choose one of {', '.join(METHODS)}.")
    spec = spec_of(model)
    prediction = run_image(model, rgb, 1, tensor=tensor)  # the same preparation and capture as the live view
    captured = prediction.capture
    x = captured.input
    assert captured.probabilities is not None  # run_image refuses a model without class scores
    probabilities = captured.probabilities[0].float()
    with _out_of_place(model), torch.enable_grad():
        chosen = int(probabilities.argmax()) if target is None else int(target)
        if not 0 <= chosen < probabilities.numel():
            raise CnnvizError(f"There is no class {chosen}; {spec.name} has {probabilities.numel()} classes.")
        if method in ("gradcam", "hirescam"):
            layers = cam_layers(captured.stages)
            if not layers:
                raise CnnvizError(f"{spec.name} has no stage with spatial maps, so Grad-CAM has no layer to look "
                                  "at; use the gradient saliency map instead.")
            layer = next((lay for lay in layers if lay.stage == stage), None) or default_layer(layers, captured.stages)
            name = layer.stage
            module = dict(model.named_modules())[layer.module]
            if method == "gradcam":
                attribution = LayerGradCam(model, module).attribute(x, target=chosen, relu_attributions=True)[0]
            else:
                attribution = LayerGradientXActivation(model, module).attribute(x, target=chosen)[0].sum(0)
            heat = _to_input(attribution.reshape(attribution.shape[-2:]).detach().float().cpu().numpy(),
                             layer.field, (x.shape[-2], x.shape[-1]))
        else:
            name = ""
            attribution = Saliency(model).attribute(x.clone().requires_grad_(True), target=chosen, abs=True)
            heat = attribution[0].amax(0).detach().float().cpu().numpy()
    heat_np = np.maximum(heat, 0)
    peak = float(heat_np.max())
    heat_np = heat_np / peak if peak > 0 else np.zeros_like(heat_np)
    view = prediction.prepared.model_view
    names = spec.class_names
    return Explanation(method, chosen, names[chosen] if chosen < len(names) else f"class {chosen}",
                       float(probabilities[chosen]), name, heat_np.astype(np.float32),
                       overlay(view, heat_np, magnitude_map, alpha), view)


def _to_input(maps: np.ndarray, field: Field | None, size: tuple[int, int]) -> np.ndarray:
    """Place a stage's (h, w) map on the input grid: map pixel (i, j) sits at the centre of its receptive
    field (a plain stretch would shift maps of unpadded convs by several pixels)."""
    height, width = int(size[0]), int(size[1])
    if field is None:
        return cv2.resize(maps, (width, height), interpolation=cv2.INTER_LINEAR)
    matrix = np.array([[field.jump[1], 0, field.start[1]], [0, field.jump[0], field.start[0]]], np.float32)
    return cv2.warpAffine(maps.astype(np.float32), matrix, (width, height), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE)


def overlay(image: np.ndarray, heat: np.ndarray, cmap: str = "magma", alpha: float = 0.85) -> np.ndarray:
    """Blend a [0, 1] heat map (colour-mapped) over a grey or RGB uint8 image of the same size."""
    base = np.repeat(image[..., None], 3, axis=2) if image.ndim == 2 else image[..., :3]
    if heat.shape != base.shape[:2]:
        heat = cv2.resize(heat, (base.shape[1], base.shape[0]), interpolation=cv2.INTER_LINEAR)
    colours = colormap(cmap)[np.clip(np.round(heat * 255), 0, 255).astype(np.uint8)]
    weight = (alpha * heat)[..., None]  # cold regions stay the input, hot ones take the colour
    return np.clip(base * (1 - weight) + colours * weight, 0, 255).astype(np.uint8)


def ink_share(heat: np.ndarray, image: np.ndarray, threshold: int = 64, grow: int = 1) -> float:
    """The share of a heat map's mass on the ink of a digit image (bright ink on black), the ink grown by
    ``grow`` pixels: how much of the explanation sits on the strokes."""
    ink: np.ndarray = (image > threshold).astype(np.uint8)
    if grow:
        ink = cv2.dilate(ink, np.ones((2 * grow + 1, 2 * grow + 1), np.uint8))
    total = float(heat.sum())
    return float(heat[ink > 0].sum()) / total if total > 0 else 0.0


