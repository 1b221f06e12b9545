"""One GUI update as a pure function: an input image in, everything the views draw out.

The worker thread calls :func:`process_frame`; the GUI thread only paints the result.
Requests and results are frozen so that they can cross threads without copies or locks.
Everything a view needs on hover (the selected stage's values, the conv's input and
weights, receptive fields) travels in the result as NumPy, so hovering never runs torch.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np
import torch
from torch import nn

from cnnviz.core.capture import Capture, Stage
from cnnviz.core.explain import ChannelHealth, channel_health
from cnnviz.core.inference import run_image
from cnnviz.core.receptive import Field, receptive_fields
from cnnviz.core.render import (
    MosaicLayout,
    as_maps,
    colormap,
    filter_grid,
    is_signed,
    mosaic_layout,
    mosaic_rgb,
    mosaic_shrink,
    stage_mosaics,
    stage_thumbnails,
)
from cnnviz.core.surgery import StageChange, Surgeon, stage_changes, trained_weights
from cnnviz.core.zoo import spec_of

#: Feature-map tiles drawn at most per stage: nobody reads 512 tiles of 7x7 at once.
MAX_TILES = 256
#: The selected stage's mosaic is averaged down to at most this many pixels (a panel is a few hundred
#: pixels wide; VGG-16's conv1 at full size is 3.2 million, about 10 MB of RGB to build, copy and paint per frame).
MAX_MOSAIC_PIXELS = 1_000_000
#: Tiles smaller than this are enlarged (nearest neighbour) so that one pixel is visible.
MIN_TILE = 24


@dataclass(frozen=True)
class FrameRequest:
    rgb: np.ndarray
    stage: str | None = None  # None: the first conv stage
    per_channel: bool = True
    top: int = 5
    channel: int = 0  # the channel followed through conv -> ReLU -> pool
    in_channel: int | None = None  # filters: one input channel, or None for the mean / RGB
    thumbnails: bool = True
    visible: frozenset[str] | None = None  # stages whose strip card is on screen (None: all): only they get thumbnails
    detail: bool = True  # False: only the maps, input and softmax (secondary views refresh less often)
    occlusion: tuple[int, int, int] | None = None  # (top, left, size) greyed out in the model input
    magnitude_map: str = "viridis"  # sequential map for magnitudes (viridis or cividis); sign is always diverging
    stamp: float = field(default_factory=time.perf_counter)  # when the input was made


@dataclass(frozen=True)
class StageInfo:
    name: str
    kind: str
    shape: tuple[int, ...]
    params: int
    group: str  # the block it belongs to ('' for top-level stages)
    target: str = ""  # module path (for module stages) or the function's name


@dataclass(frozen=True)
class ConvInfo:
    """What the hover arithmetic needs of a conv stage."""

    inputs: np.ndarray  # (C_in, H, W)
    weight: np.ndarray
    bias: np.ndarray | None
    stride: tuple[int, int]
    padding: tuple[int, int]
    dilation: tuple[int, int]
    groups: int


@dataclass(frozen=True)
class FrameResult:
    stamp: float
    stages: tuple[StageInfo, ...]
    selected: str
    mosaic: np.ndarray
    layout: MosaicLayout
    values: np.ndarray  # the selected stage's output (C, H, W), float32
    conv: ConvInfo | None
    fields: dict[str, Field | None]
    thumbnails: dict[str, np.ndarray]
    filters: np.ndarray | None
    filters_of: str
    weight_range: tuple[float, float] | None
    chain: tuple[tuple[str, np.ndarray], ...]  # conv / ReLU / pool of the block, one channel each
    channel: int
    top: tuple[tuple[str, float], ...]
    steps: tuple[tuple[str, np.ndarray], ...]
    notes: tuple[str, ...]
    forward_ms: float
    total_ms: float
    model_name: str
    empty: bool
    changes: tuple[StageChange, ...] = ()  # per stage, against the trained weights, when a filter is edited
    baseline_top: tuple[tuple[str, float], ...] = ()
    detail: bool = True
    health: ChannelHealth | None = None  # dead / saturated channels of the selected stage on this input

    @property
    def model_input(self) -> np.ndarray:
        return self.steps[-1][1]

    def info(self, name: str) -> StageInfo:
        return next(s for s in self.stages if s.name == name)


def group_of(name: str) -> str:
    """'layer1.0.conv1' -> 'layer1.0'; top-level stages ('conv1') -> ''."""
    return name.rpartition(".")[0]


def process_frame(model: nn.Module, request: FrameRequest, surgeon: Surgeon | None = None,
                  details_now: Callable[[], bool] | None = None,
                  early: Callable[[FrameResult], None] | None = None) -> FrameResult:
    """Prepare, capture, and build every picture the views need (on the model's device).

    With an edited filter (``surgeon.edited``) the trained model runs too, on the same input,
    so the result says how every stage and the prediction moved. ``details_now``, asked after
    the forward pass of a detail request, may put the secondary views off (the worker does when
    newer input is waiting); the result's ``detail`` says what was done. With ``early``, a frame that
    will also build the secondary views first hands over the maps, input and bars without them (``detail``
    False), so what the user watches does not wait for the strip, chain and filters.
    """
    start = time.perf_counter()
    prediction = run_image(model, request.rgb, request.top, request.occlusion)
    changes: tuple[StageChange, ...] = ()
    baseline_top: tuple[tuple[str, float], ...] = ()
    if surgeon is not None and surgeon.edited:
        with trained_weights(surgeon):
            baseline = run_image(model, request.rgb, request.top, request.occlusion)
        changes = tuple(stage_changes(baseline.capture, prediction.capture))
        baseline_top = tuple(baseline.top)
    forward_ms = (time.perf_counter() - start) * 1000.0
    result = prediction.capture
    stages = result.stages
    selected = request.stage if request.stage in {s.name for s in stages} else default_stage(stages)
    stage = result.by_name(selected)
    maps = as_maps(stage.output.detach())
    shown = min(maps.shape[0], MAX_TILES)
    scale = max(1, math.ceil(MIN_TILE / max(1, min(maps.shape[-2:]))))
    mosaic = stage_mosaics([stage], per_channel=request.per_channel, max_tiles=MAX_TILES,
                           magnitude_map=request.magnitude_map, min_tile=MIN_TILE,
                           max_pixels=MAX_MOSAIC_PIXELS)[selected]
    shrink = mosaic_shrink(shown, maps.shape[-2] * scale, maps.shape[-1] * scale, MAX_MOSAIC_PIXELS)
    layout = mosaic_layout(shown, maps.shape[-2], maps.shape[-1], 1 if shrink > 1 else scale, shrink=shrink)
    channel = min(max(0, request.channel), maps.shape[0] - 1)
    chain = block_chain(stages, selected)
    filters_of = chain[0] if result.by_name(chain[0]).kind == "conv" else selected
    detail = request.detail and (details_now is None or details_now())
    infos, fields = _structure(stages)
    source = result.by_name(stage.inputs[0]) if stage.inputs and stage.inputs[0] != "input" else None
    health = channel_health(maps, stage.kind, stage.module, after_relu=source is not None and source.kind == "relu") \
        if stage.output.dim() == 4 else None  # channels of maps; a vector's units are not channels
    primary = FrameResult(
        stamp=request.stamp, stages=infos, selected=selected, mosaic=mosaic, layout=layout,
        values=maps.float().cpu().numpy(), conv=_conv_info(result, stage), fields=fields,
        thumbnails={}, filters=None, filters_of=filters_of, weight_range=None, chain=(), channel=channel,
        top=tuple(prediction.top),
        steps=tuple(prediction.prepared.steps), notes=tuple(prediction.notes), forward_ms=forward_ms,
        total_ms=(time.perf_counter() - start) * 1000.0, model_name=_label(spec_of(model)),
        empty=prediction.prepared.empty, changes=changes, baseline_top=baseline_top, detail=False, health=health)
    if not detail:
        return primary
    if early is not None:
        early(primary)
    filters, weight_range = _filters(result.by_name(filters_of), request.in_channel)
    shown_cards = stages if request.visible is None else [s for s in stages if s.name in request.visible]
    thumbnails = stage_thumbnails(shown_cards, magnitude_map=request.magnitude_map) if request.thumbnails else {}
    return replace(primary, thumbnails=thumbnails, filters=filters, weight_range=weight_range,
                   chain=_chain_images(result, selected, channel, request.magnitude_map), detail=True,
                   total_ms=(time.perf_counter() - start) * 1000.0)


def _label(spec) -> str:  # noqa: ANN001
    return spec.name if spec.trained else f"{spec.name} (random weights)"


def default_stage(stages: list[Stage]) -> str:
    return next((s.name for s in stages if s.kind == "conv"), stages[0].name)


_STRUCTURE_CACHE: dict[tuple, tuple[tuple[StageInfo, ...], dict]] = {}


def _structure(stages: list[Stage]) -> tuple[tuple[StageInfo, ...], dict]:
    """Stage infos and receptive fields depend on the model and the input size only: worked out once
    per model instead of on every frame (together ~2 ms a frame for ResNet-18 here)."""
    key = tuple((s.name, s.kind, tuple(s.output.shape), id(s.module), s.inputs) for s in stages)
    cached = _STRUCTURE_CACHE.get(key)
    if cached is None:
        if len(_STRUCTURE_CACHE) > 8:
            _STRUCTURE_CACHE.clear()
        infos = tuple(StageInfo(s.name, s.kind, s.shape, _params(s), group_of(s.name), s.target) for s in stages)
        cached = _STRUCTURE_CACHE[key] = (infos, receptive_fields(stages))
    return cached


def _params(stage: Stage) -> int:
    if stage.module is None:
        return 0
    return sum(p.numel() for p in stage.module.parameters(recurse=False))


_FILTER_CACHE: dict[tuple, tuple[np.ndarray, tuple[float, float]]] = {}


def _filters(stage: Stage, in_channel: int | None) -> tuple[np.ndarray | None, tuple[float, float] | None]:
    """The filter grid, cached until the weights change (their version counter moves on any edit)."""
    weight = getattr(stage.module, "weight", None) if stage.kind == "conv" else None
    if not isinstance(weight, torch.Tensor) or weight.dim() != 4:
        return None, None
    weight = weight.detach()
    channel = None if in_channel is None or in_channel >= weight.shape[1] else in_channel
    key = (id(stage.module), weight.data_ptr(), weight._version, channel, str(weight.device))
    if key not in _FILTER_CACHE:
        if len(_FILTER_CACHE) > 64:
            _FILTER_CACHE.clear()
        grid = filter_grid(weight[:MAX_TILES], channel, scale=max(2, 48 // max(weight.shape[-2:])))
        _FILTER_CACHE[key] = (grid, (float(weight.min()), float(weight.max())))
    return _FILTER_CACHE[key]


def _conv_info(result: Capture, stage: Stage) -> ConvInfo | None:
    module = stage.module
    if not isinstance(module, nn.Conv2d) or isinstance(module.padding, str):
        return None
    source = stage.inputs[0] if stage.inputs else "input"
    tensor = result.input if source == "input" else result.by_name(source).output
    bias = module.bias.detach().float().cpu().numpy() if module.bias is not None else None
    return ConvInfo(tensor[0].detach().float().cpu().numpy(), module.weight.detach().float().cpu().numpy(), bias,
                    tuple(module.stride), tuple(module.padding), tuple(module.dilation), module.groups)


_FOLLOW = ("norm", "relu", "activation", "pool")


def block_chain(stages: list[Stage], name: str) -> list[str]:
    """The conv of ``name``'s block and the stages that follow it one by one (norm, ReLU, pool)."""
    by_name = {s.name: s for s in stages}
    current = by_name[name]
    while current.kind in _FOLLOW and len(current.inputs) == 1 and current.inputs[0] in by_name:
        current = by_name[current.inputs[0]]
    if current.kind != "conv":
        return [name]
    chain = [current.name]
    for _ in range(4):
        nxt = next((s for s in stages if s.inputs == (chain[-1],) and s.kind in _FOLLOW), None)
        if nxt is None:
            break
        chain.append(nxt.name)
    return chain


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
