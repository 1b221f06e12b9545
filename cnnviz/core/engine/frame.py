"""One GUI update as a pure function: an input image in, everything the views draw out.

The worker thread calls :func:`process_frame`; the GUI thread only paints the result.
Requests and results are frozen so that they can cross threads without copies or locks.
Pictures come out as RGBX (the 32-bit layout Qt paints without converting), made here rather than
on the GUI thread; what hovering needs stays on the worker's tensors (:mod:`hover`).
"""

from __future__ import annotations

import math
import time
import weakref
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, replace

import numpy as np
import torch
from torch import nn

from cnnviz.core.engine.capture import Capture, Stage
from cnnviz.core.engine.changes import StageChange, stage_changes
from cnnviz.core.engine.health import ChannelHealth, channel_health
from cnnviz.core.engine.hover import HoverData, hover_data
from cnnviz.core.engine.inference import run_image
from cnnviz.core.engine.receptive import Field
from cnnviz.core.engine.render import (
    MIN_TILE,
    MosaicLayout,
    as_maps,
    colormap,
    filter_grid,
    is_signed,
    mosaic_rgb,
    stage_mosaic,
    stage_thumbnails,
    to_rgbx,
)
from cnnviz.core.engine.stages import StageInfo, block_chain, default_stage, structure
from cnnviz.core.models.zoo import ModelSpec, spec_of

#: Feature-map tiles drawn at most per stage: nobody reads 512 tiles of 7x7 at once.
MAX_TILES = 256
#: The selected stage's mosaic is averaged down to at most this many pixels (a panel is a few hundred
#: pixels wide; VGG-16's conv1 at full size is 3.2 million, about 10 MB of RGB to build, copy and paint per frame).
MAX_MOSAIC_PIXELS = 1_000_000

#: Puts the trained weights back for the length of a ``with`` (a kernel edit's baseline), or None.
Baseline = Callable[[], AbstractContextManager[object]]


@dataclass(frozen=True)
class FrameRequest:
    rgb: np.ndarray
    stage: str | None = None  # None: the first conv stage
    per_channel: bool = True
    top: int = 5
    channel: int = 0  # the channel followed through conv -> ReLU -> pool
    in_channel: int | None = None  # filters: one input channel, or None for the mean / RGB
    visible: frozenset[str] | None = None  # stages whose strip card is on screen (None: all): only they get thumbnails
    detail: bool = True  # False: only the maps, input and softmax (secondary views refresh less often)
    occlusion: tuple[int, int, int] | None = None  # (top, left, size) greyed out in the model input
    magnitude_map: str = "viridis"  # sequential map for magnitudes (viridis or cividis); sign is always diverging
    stamp: float = field(default_factory=time.perf_counter)  # when the input was made
    tensor: torch.Tensor | None = field(default=None, compare=False)  # the exact model input (rgb: its picture)


@dataclass(frozen=True)
class FrameResult:
    stamp: float
    stages: tuple[StageInfo, ...]
    selected: str
    mosaic: np.ndarray  # (H, W, 4) uint8 RGBX
    layout: MosaicLayout
    hover: HoverData
    fields: dict[str, Field | None]
    thumbnails: dict[str, np.ndarray]
    filters: np.ndarray | None
    filters_of: str
    weight_range: tuple[float, float] | None
    chain: tuple[tuple[str, np.ndarray], ...]  # conv / ReLU / pool of the block, one channel each
    channel: int
    top: tuple[tuple[str, float], ...]
    steps: tuple[tuple[str, np.ndarray], ...]
    input_rgbx: np.ndarray  # what the model received, as (H, W, 4) uint8 RGBX
    notes: tuple[str, ...]
    forward_ms: float
    model_name: str
    changes: tuple[StageChange, ...] = ()  # per stage, against the trained weights, when a filter is edited
    baseline_top: tuple[tuple[str, float], ...] = ()
    detail: bool = True
    health: ChannelHealth | None = None  # dead / saturated channels of the selected stage on this input

    @property
    def model_input(self) -> np.ndarray:
        return self.steps[-1][1]

    def info(self, name: str) -> StageInfo:
        return next(s for s in self.stages if s.name == name)


def process_frame(model: nn.Module, request: FrameRequest, baseline: Baseline | None = None,
                  details_now: Callable[[], bool] | None = None,
                  early: Callable[[FrameResult], None] | None = None) -> FrameResult:
    """Prepare, capture, and build every picture the views need (on the model's device).

    With ``baseline`` (a filter holds a kernel) the trained model runs too, on the same input, so the
    result says how every stage and the prediction moved. ``details_now``, asked after the forward pass
    of a detail request, may put the secondary views off (the worker does when newer input is waiting);
    the result's ``detail`` says what was done. With ``early``, a frame that will also build the secondary
    views first hands over the maps, input and bars without them (``detail`` False), so what the user
    watches does not wait for the strip, chain and filters; the full result is returned, not handed over.
    """
    start = time.perf_counter()
    prediction = run_image(model, request.rgb, request.top, request.occlusion, request.tensor)
    changes: tuple[StageChange, ...] = ()
    baseline_top: tuple[tuple[str, float], ...] = ()
    if baseline is not None:
        with baseline():
            trained = run_image(model, request.rgb, request.top, request.occlusion, request.tensor)
        changes = tuple(stage_changes(trained.capture, prediction.capture))
        baseline_top = tuple(trained.top)
    forward_ms = (time.perf_counter() - start) * 1000.0
    result = prediction.capture
    stages = result.stages
    selected = request.stage if request.stage in {s.name for s in stages} else default_stage(stages)
    stage = result.by_name(selected)
    maps = as_maps(stage.output.detach())
    mosaic, layout = stage_mosaic(stage, per_channel=request.per_channel, max_tiles=MAX_TILES,
                                  magnitude_map=request.magnitude_map, min_tile=MIN_TILE,
                                  max_pixels=MAX_MOSAIC_PIXELS)
    channel = min(max(0, request.channel), maps.shape[0] - 1)
    chain = block_chain(stages, selected)
    filters_of = chain[0] if result.by_name(chain[0]).kind == "conv" else selected
    detail = request.detail and (details_now is None or details_now())
    infos, fields = structure(stages)
    source = result.by_name(stage.inputs[0]) if stage.inputs and stage.inputs[0] != "input" else None
    health = channel_health(maps, stage.kind, stage.module, after_relu=source is not None and source.kind == "relu") \
        if stage.output.dim() == 4 else None  # channels of maps; a vector's units are not channels
    steps = tuple(prediction.prepared.steps)
    primary = FrameResult(
        stamp=request.stamp, stages=infos, selected=selected, mosaic=to_rgbx(mosaic), layout=layout,
        hover=hover_data(result, stage, maps), fields=fields, thumbnails={}, filters=None, filters_of=filters_of,
        weight_range=None, chain=(), channel=channel, top=tuple(prediction.top), steps=steps,
        input_rgbx=to_rgbx(steps[-1][1]), notes=tuple(prediction.notes), forward_ms=forward_ms,
        model_name=_label(spec_of(model)), changes=changes, baseline_top=baseline_top, detail=False, health=health)
    if not detail:
        return primary
    if early is not None:
        early(primary)
    filters, weight_range = _filters(result.by_name(filters_of), request.in_channel)
    shown_cards = stages if request.visible is None else [s for s in stages if s.name in request.visible]
    thumbnails = stage_thumbnails(shown_cards, magnitude_map=request.magnitude_map)
    return replace(primary, thumbnails=thumbnails, filters=filters, weight_range=weight_range,
                   chain=_chain_images(result, selected, channel, request.magnitude_map), detail=True)


def _label(spec: ModelSpec) -> str:
    return spec.name if spec.trained else f"{spec.name} (random weights)"


#: Each conv module's filter grids, by weight version, input channel and device. Keyed weakly by the module,
#: so the grids go with their model: keyed by ``id(module)`` they outlived it, and a later model's module at
#: the same address (and weights at the same address) could be shown the dead one's filters.
_FILTER_CACHE: weakref.WeakKeyDictionary[nn.Module, dict[tuple, tuple[np.ndarray, tuple[float, float]]]] = \
    weakref.WeakKeyDictionary()
MAX_GRIDS = 8  # per module: a few input channels (the filters view's choice) and versions (edits)


def _filters(stage: Stage, in_channel: int | None) -> tuple[np.ndarray | None, tuple[float, float] | None]:
    """The filter grid, cached until the weights change (their version counter moves on any edit)."""
    module = stage.module
    weight = getattr(module, "weight", None) if stage.kind == "conv" else None
    if module is None or not isinstance(weight, torch.Tensor) or weight.dim() != 4:
        return None, None
    weight = weight.detach()
    channel = None if in_channel is None or in_channel >= weight.shape[1] else in_channel
    key = (weight.data_ptr(), weight._version, channel, str(weight.device))
    grids = _FILTER_CACHE.get(module)
    if grids is None:
        grids = _FILTER_CACHE[module] = {}
    if key not in grids:
        if len(grids) >= MAX_GRIDS:
            grids.clear()
        grid = filter_grid(weight[:MAX_TILES], channel, scale=max(2, 48 // max(weight.shape[-2:])))
        grids[key] = (grid, (float(weight.min()), float(weight.max())))
    return grids[key]


def _chain_images(result: Capture, selected: str, channel: int,
                  magnitude_map: str = "viridis") -> tuple[tuple[str, np.ndarray], ...]:
    out = []
    for name in block_chain(result.stages, selected):
        stage = result.by_name(name)
        maps = as_maps(stage.output.detach())
        if maps.shape[0] <= channel or maps.dim() != 3:
            continue
        one = maps[channel: channel + 1]
        signed = is_signed(stage)
        scale = max(1, math.ceil(96 / max(1, max(one.shape[-2:]))))
        image = mosaic_rgb(one, colormap("diverging" if signed else magnitude_map), signed, scale=scale)
        out.append((name, image))
    return tuple(out)
