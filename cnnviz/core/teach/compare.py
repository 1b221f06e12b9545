"""A/B comparison: two inputs through one model, or one input through the trained and the edited
model, side by side for one stage, with their difference.

Both sides share one colour scale per channel, so equal colours mean equal values; the
difference (B - A) uses the diverging map with white at zero.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from cnnviz.core.engine.changes import StageChange, stage_changes
from cnnviz.core.engine.inference import Prediction, run_image
from cnnviz.core.engine.render import MIN_TILE, as_maps, colormap, is_signed, mosaic_plan, tile_indices_rgb
from cnnviz.core.engine.stages import default_stage
from cnnviz.core.lab.surgery import Surgeon, trained_weights

MODES = ("inputs", "edit")
MAX_TILES = 64


@dataclass(frozen=True)
class CompareResult:
    mode: str
    stage: str
    a: np.ndarray  # uint8 RGB mosaic of side A
    b: np.ndarray
    diff: np.ndarray  # B - A, diverging
    top_a: tuple[tuple[str, float], ...]
    top_b: tuple[tuple[str, float], ...]
    changes: tuple[StageChange, ...]  # every stage: mean |B - A|
    view_a: np.ndarray  # what the model received on each side
    view_b: np.ndarray
    largest: float  # the largest |B - A| in the stage


def _tiles(maps: torch.Tensor, lut: np.ndarray, low: torch.Tensor, high: torch.Tensor, scale: int) -> np.ndarray:
    """(C, H, W) -> a mosaic, normalised per channel to [low, high] (shared by both sides)."""
    t = ((maps - low) / (high - low).clamp_min(1e-12)).clamp(0, 1)
    return tile_indices_rgb(torch.nan_to_num(t * 255).round().to(torch.uint8), lut, scale)


def compare(model: nn.Module, rgb_a: np.ndarray, rgb_b: np.ndarray | None, stage: str | None,
            surgeon: Surgeon | None = None, magnitude_map: str = "viridis", k: int = 5,
            tensor_a: torch.Tensor | None = None, tensor_b: torch.Tensor | None = None) -> CompareResult:
    """``rgb_b`` None: compare the trained weights (A) with the edited model (B) on ``rgb_a``.
    ``tensor_a`` / ``tensor_b``: the exact model input a picture stands for (an adversarial one), or None."""
    if rgb_b is None:
        mode = "edit"
        after = run_image(model, rgb_a, k, tensor=tensor_a)
        if surgeon is not None and surgeon.edited:
            with trained_weights(surgeon):
                before = run_image(model, rgb_a, k, tensor=tensor_a)
        else:
            before = after
    else:
        mode = "inputs"
        before, after = run_image(model, rgb_a, k, tensor=tensor_a), run_image(model, rgb_b, k, tensor=tensor_b)
    return _result(mode, before, after, stage, magnitude_map)


def _result(mode: str, before: Prediction, after: Prediction, stage: str | None, magnitude_map: str) -> CompareResult:
    names = [s.name for s in before.capture.stages]
    if stage not in names:
        stage = default_stage(before.capture.stages)
    sa, sb = before.capture.by_name(stage), after.capture.by_name(stage)
    ma = as_maps(sa.output.detach()).float()[:MAX_TILES]
    mb = as_maps(sb.output.detach()).float()[:MAX_TILES]
    signed = is_signed(sa) or is_signed(sb)
    both = torch.stack([torch.nan_to_num(ma), torch.nan_to_num(mb)])
    if signed:
        high = both.abs().amax(dim=(0, 2, 3)).view(-1, 1, 1).clamp_min(1e-12)
        low = -high
    else:
        low = both.amin(dim=(0, 2, 3)).view(-1, 1, 1)
        high = both.amax(dim=(0, 2, 3)).view(-1, 1, 1)
    lut = colormap("diverging" if signed else magnitude_map)
    scale, _shrink = mosaic_plan(ma.shape, None, MIN_TILE, None)
    diff = torch.nan_to_num(mb - ma)
    largest = float(diff.abs().max()) if diff.numel() else 0.0
    bound = diff.abs().amax(dim=(1, 2)).view(-1, 1, 1).clamp_min(1e-12)
    return CompareResult(
        mode, stage, _tiles(ma, lut, low, high, scale), _tiles(mb, lut, low, high, scale),
        _tiles(diff, colormap("diverging"), -bound, bound, scale), tuple(before.top), tuple(after.top),
        tuple(stage_changes(before.capture, after.capture)), before.prepared.model_view,
        after.prepared.model_view, largest)
