"""Activations -> uint8 RGB images: stage mosaics, filter grids, probability bars.

Mosaics are normalised and tiled as uint8 colour-table indices on the model's device, all the
stages asked for are copied to the host in one transfer (on a GPU every ``.cpu()`` is a
synchronisation), and coloured there by OpenCV's table lookup. Signed maps (conv, norm, linear,
add outputs) use a diverging map with white at zero, so sign is visible; magnitudes (ReLU, pool)
use a sequential map.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np
import torch

from cnnviz.core.engine.capture import Stage

GAP_RGB = (48, 48, 48)
#: Tiles smaller than this (in pixels) are enlarged, nearest neighbour, so that one map pixel is visible.
MIN_TILE = 24
SIGNED_KINDS = {"conv", "norm", "linear", "add", "other", "index", "concat", "mul"}
_DIVERGING_STOPS = [(0.0, (5, 48, 97)), (0.25, (67, 147, 195)), (0.5, (247, 247, 247)),
                    (0.75, (214, 96, 77)), (1.0, (103, 0, 31))]


@lru_cache(maxsize=8)
def colormap(name: str) -> np.ndarray:
    """A 256x3 uint8 RGB lookup table: viridis, cividis, magma, grey, or diverging (blue-white-red)."""
    if name == "diverging":
        stops = np.array([s[0] for s in _DIVERGING_STOPS])
        colours = np.array([s[1] for s in _DIVERGING_STOPS], np.float64)
        t = np.linspace(0.0, 1.0, 256)
        lut = np.stack([np.interp(t, stops, colours[:, c]) for c in range(3)], axis=1)
        return np.round(lut).astype(np.uint8)
    if name == "grey":
        return np.repeat(np.arange(256, dtype=np.uint8)[:, None], 3, axis=1)
    codes = {"viridis": cv2.COLORMAP_VIRIDIS, "cividis": cv2.COLORMAP_CIVIDIS, "magma": cv2.COLORMAP_MAGMA}
    if name not in codes:
        raise ValueError(f"unknown colour map {name!r}")
    bgr = cv2.applyColorMap(np.arange(256, dtype=np.uint8).reshape(256, 1), codes[name])[:, 0]
    return np.ascontiguousarray(bgr[:, ::-1])


#: Kinds that cannot go negative: no need to look at every value (a min over a large map is ~1 ms).
NON_NEGATIVE_KINDS = {"relu", "softmax"}


def is_signed(stage: Stage) -> bool:
    """Conv-like outputs get the diverging map; so does anything that actually goes negative."""
    if stage.kind in SIGNED_KINDS:
        return True
    return stage.kind not in NON_NEGATIVE_KINDS and bool(stage.output.min() < 0)


def as_maps(output: torch.Tensor) -> torch.Tensor:
    """One sample's output as (C, H, W): feature vectors become a near-square single map."""
    x = output[0] if output.dim() >= 2 else output
    if x.dim() == 3:
        return x
    if x.dim() == 2:
        return x.unsqueeze(0)
    flat = x.reshape(-1)
    cols = max(1, math.ceil(math.sqrt(flat.numel())))
    rows = math.ceil(flat.numel() / cols)
    padded = torch.full((rows * cols,), float("nan"), device=flat.device, dtype=flat.dtype)
    padded[: flat.numel()] = flat
    return padded.view(1, rows, cols)


def _indices(maps: torch.Tensor, signed: bool, per_channel: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Float maps -> uint8 LUT indices, and a mask of non-finite values (None when there are none).

    The common case (every value finite, which the min/max already tell: NaN and inf propagate into
    them) is three passes over the data; the masked path is for NaN padding and broken models."""
    x = maps.float()
    dims = (1, 2) if per_channel else (0, 1, 2)
    if signed:
        scale = x.abs().amax(dim=dims, keepdim=True)
        if bool(torch.isfinite(scale).all()):
            # 127.5 + 127.5 x / scale, rounded (+0.5, then the uint8 cast truncates)
            return (x * (127.5 / scale.clamp_min(1e-12))).add_(128.0).clamp_(0.0, 255.0).to(torch.uint8), None
    else:
        low, high = x.amin(dim=dims, keepdim=True), x.amax(dim=dims, keepdim=True)
        if bool(torch.isfinite(low).all() and torch.isfinite(high).all()):
            return ((x - low) * (255.0 / (high - low).clamp_min(1e-12))).add_(0.5).clamp_(0.0, 255.0) \
                .to(torch.uint8), None
    valid = torch.isfinite(x)
    clean = torch.where(valid, x, torch.zeros((), device=x.device))
    if signed:
        scale = clean.abs().amax(dim=dims, keepdim=True).clamp_min(1e-12)
        idx = 127.5 + 127.5 * clean / scale
    else:
        big = torch.where(valid, x, torch.full((), float("inf"), device=x.device))
        low = big.amin(dim=dims, keepdim=True)
        high = clean.amax(dim=dims, keepdim=True)
        idx = 255.0 * (clean - low) / (high - low).clamp_min(1e-12)
    idx = torch.where(valid, idx.add(0.5).clamp(0.0, 255.0), torch.zeros((), device=x.device))
    return idx.to(torch.uint8), ~valid


@dataclass(frozen=True)
class MosaicLayout:
    """Where each channel's tile sits in a mosaic, to map a click or hover back to (channel, y, x)."""

    channels: int
    rows: int
    cols: int
    tile_h: int  # in mosaic pixels (after scale)
    tile_w: int
    scale: int
    gap: int
    shrink: int = 1  # map pixels per mosaic pixel, for layers too large to draw in full

    def to_map(self, ry: int, rx: int) -> tuple[int, int]:
        """A pixel inside a tile -> (y, x) in the stage's own map."""
        return ry * self.shrink // self.scale, rx * self.shrink // self.scale

    def to_tile(self, y: int, x: int) -> tuple[float, float, float]:
        """(y, x) in the map -> (top, left, size) of its square inside the tile, in mosaic pixels."""
        return y * self.scale / self.shrink, x * self.scale / self.shrink, self.scale / self.shrink

    def locate(self, px: float, py: float) -> tuple[int, int, int] | None:
        """Mosaic pixel -> (channel, y, x) in the stage's own map, or None on a gap."""
        col, rx = divmod(int(px), self.tile_w + self.gap)
        row, ry = divmod(int(py), self.tile_h + self.gap)
        if px < 0 or py < 0 or rx >= self.tile_w or ry >= self.tile_h or col >= self.cols:
            return None
        channel = row * self.cols + col
        if channel >= self.channels:
            return None
        return (channel, *self.to_map(ry, rx))

    def tile_origin(self, channel: int) -> tuple[int, int]:
        row, col = divmod(channel, self.cols)
        return col * (self.tile_w + self.gap), row * (self.tile_h + self.gap)


def mosaic_layout(channels: int, height: int, width: int, scale: int = 1, gap: int = 1,
                  shrink: int = 1) -> MosaicLayout:
    h, w = -(-height * scale // shrink), -(-width * scale // shrink)
    cols = max(1, math.ceil(math.sqrt(channels * h / max(w, 1)))) if channels > 1 else 1
    cols = min(cols, channels)
    return MosaicLayout(channels, math.ceil(channels / cols), cols, h, w, scale, gap, shrink)


def mosaic_shrink(channels: int, height: int, width: int, max_pixels: int | None) -> int:
    """How many map pixels to average into one mosaic pixel so that the mosaic stays under ``max_pixels``
    (VGG-16's first conv is 64 maps of 224x224: 3.2 million pixels for a panel a few hundred wide)."""
    if not max_pixels:
        return 1
    return max(1, math.ceil(math.sqrt(channels * height * width / max_pixels)))


def _index_grid(maps: torch.Tensor, signed: bool, per_channel: bool = True, max_tiles: int | None = None,
                scale: int = 1, gap: int = 1,
                shrink: int = 1) -> tuple[torch.Tensor, torch.Tensor | None, MosaicLayout]:
    """(C, H, W) maps -> the tiled uint8 index grid on the maps' device, its non-finite mask (or None), and
    the layout (one map: no gaps).

    ``shrink`` > 1 averages shrink x shrink blocks first (area resampling) for very large layers."""
    if max_tiles is not None:
        maps = maps[:max_tiles]
    if shrink > 1:
        h, w = maps.shape[-2:]
        maps = torch.nn.functional.interpolate(maps.float()[None], size=(-(-h // shrink), -(-w // shrink)),
                                               mode="area")[0]
    idx, invalid = _indices(maps, signed, per_channel)
    return _tile_indices(idx, invalid, scale, gap, shrink)


def _tile_indices(idx: torch.Tensor, invalid: torch.Tensor | None, scale: int = 1, gap: int = 1,
                  shrink: int = 1) -> tuple[torch.Tensor, torch.Tensor | None, MosaicLayout]:
    """(C, h, w) uint8 indices -> one tiled grid (enlarged ``scale`` times), its mask and its layout.

    The layout records ``scale`` and ``shrink`` so that a mosaic pixel maps back to the stage's own map."""
    if scale > 1:
        idx = idx.repeat_interleave(scale, dim=1).repeat_interleave(scale, dim=2)
        if invalid is not None:
            invalid = invalid.repeat_interleave(scale, dim=1).repeat_interleave(scale, dim=2)
    c, h, w = idx.shape
    gap = gap if c > 1 else 0
    grid = mosaic_layout(c, h, w, 1, gap)
    layout = MosaicLayout(c, grid.rows, grid.cols, h, w, scale, gap, shrink)
    if c == 1:
        return idx[0], None if invalid is None else invalid[0], layout

    def tiled(values: torch.Tensor) -> torch.Tensor:
        canvas = torch.zeros((layout.rows * layout.cols, h + gap, w + gap), dtype=values.dtype, device=values.device)
        canvas[:c, :h, :w] = values
        full = canvas.view(layout.rows, layout.cols, h + gap, w + gap).permute(0, 2, 1, 3) \
            .reshape(layout.rows * (h + gap), layout.cols * (w + gap))
        return full[: full.shape[0] - gap, : full.shape[1] - gap]

    return tiled(idx), None if invalid is None else tiled(invalid), layout


def tile_indices_rgb(idx: torch.Tensor, lut: np.ndarray, scale: int = 1) -> np.ndarray:
    """(C, h, w) uint8 colour-table indices normalised by the caller (the comparison's scale shared by
    two sides) -> an RGB mosaic laid out as every other mosaic is."""
    grid, _invalid, layout = _tile_indices(idx, None, scale)
    return _colour(grid.cpu().numpy(), None, lut, layout)


def to_rgbx(image: np.ndarray) -> np.ndarray:
    """uint8 grey or RGB -> (H, W, 4) RGBX, the layout Qt paints without converting (done on the worker)."""
    if image.ndim == 2:
        return cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_GRAY2RGBA)
    return cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2RGBA)


def _colour(grid: np.ndarray, invalid: np.ndarray | None, lut: np.ndarray, layout: MosaicLayout) -> np.ndarray:
    """Index grid -> RGB through the 256-entry table (OpenCV's LUT: 5-10x a gather), then the gaps
    between tiles, the empty tiles and any non-finite values painted in the gap colour."""
    rgb = cv2.applyColorMap(np.ascontiguousarray(grid), np.ascontiguousarray(lut).reshape(256, 1, 3))
    gap = layout.gap
    if gap:
        step_y, step_x = layout.tile_h + gap, layout.tile_w + gap
        for row in range(1, layout.rows):
            rgb[row * step_y - gap: row * step_y] = GAP_RGB
        for col in range(1, layout.cols):
            rgb[:, col * step_x - gap: col * step_x] = GAP_RGB
        for empty in range(layout.channels, layout.rows * layout.cols):
            x, y = layout.tile_origin(empty)
            rgb[y: y + layout.tile_h, x: x + layout.tile_w] = GAP_RGB
    if invalid is not None:
        rgb[invalid] = GAP_RGB
    return rgb


def mosaic_rgb(maps: torch.Tensor, lut: np.ndarray, signed: bool, per_channel: bool = True,
               max_tiles: int | None = None, scale: int = 1, gap: int = 1, shrink: int = 1) -> np.ndarray:
    """(C, H, W) maps -> (rows*(H+gap)-gap, cols*(W+gap)-gap, 3) uint8 RGB on the host.

    Normalised and tiled as uint8 indices on the maps' device (a third of the bytes of RGB to copy),
    coloured on the host."""
    grid, invalid, layout = _index_grid(maps, signed, per_channel, max_tiles, scale, gap, shrink)
    return _colour(grid.cpu().numpy(), None if invalid is None else invalid.cpu().numpy(), lut, layout)


def mosaic_plan(shape: Sequence[int], max_tiles: int | None, min_tile: int,
                max_pixels: int | None) -> tuple[int, int]:
    """(scale, shrink) for (C, H, W) maps: enlarge small maps to ``min_tile``, average large ones down to
    ``max_pixels`` (never both: enlarged tiles are small)."""
    channels, height, width = shape[-3], shape[-2], shape[-1]
    scale = max(1, math.ceil(min_tile / max(1, min(height, width))))
    shown = min(channels, max_tiles) if max_tiles is not None else channels
    shrink = mosaic_shrink(shown, height * scale, width * scale, max_pixels)
    return (1 if shrink > 1 else scale), shrink


def _mosaics(stages: Sequence[Stage], per_channel: bool, max_tiles: int | None, magnitude_map: str, min_tile: int,
             max_pixels: int | None) -> dict[str, tuple[np.ndarray, MosaicLayout]]:
    built = []
    for stage in stages:
        maps = as_maps(stage.output.detach())
        signed = is_signed(stage)
        scale, shrink = mosaic_plan(maps.shape, max_tiles, min_tile, max_pixels)
        grid, invalid, layout = _index_grid(maps, signed, per_channel, max_tiles, scale, shrink=shrink)
        lut = colormap("diverging" if signed else magnitude_map)
        built.append((stage.name, grid, invalid, layout, lut))
    if not built:
        return {}
    parts = [g.reshape(-1) for _, g, _, _, _ in built] + \
        [m.reshape(-1).to(torch.uint8) for _, _, m, _, _ in built if m is not None]
    flat = torch.cat(parts).cpu().numpy() if len(parts) > 1 else parts[0].cpu().numpy()
    out: dict[str, tuple[np.ndarray, MosaicLayout]] = {}
    offset = 0
    grids = []
    for _name, grid, _, _, _ in built:
        grids.append(flat[offset: offset + grid.numel()].reshape(tuple(grid.shape)))
        offset += grid.numel()
    for (name, _grid, invalid, layout, lut), host in zip(built, grids, strict=True):
        mask = None
        if invalid is not None:
            mask = flat[offset: offset + invalid.numel()].reshape(tuple(invalid.shape)).astype(bool)
            offset += invalid.numel()
        out[name] = (_colour(host, mask, lut, layout), layout)
    return out


def stage_mosaics(stages: Sequence[Stage], per_channel: bool = True, max_tiles: int | None = 256,
                  magnitude_map: str = "viridis", min_tile: int = 1,
                  max_pixels: int | None = None) -> dict[str, np.ndarray]:
    """Mosaics of several stages: index grids built on the device and copied to the host in one transfer.

    ``max_pixels`` caps each mosaic's size (see :func:`mosaic_shrink`)."""
    built = _mosaics(stages, per_channel, max_tiles, magnitude_map, min_tile, max_pixels)
    return {name: rgb for name, (rgb, _layout) in built.items()}


def stage_mosaic(stage: Stage, per_channel: bool = True, max_tiles: int | None = 256, magnitude_map: str = "viridis",
                 min_tile: int = 1, max_pixels: int | None = None) -> tuple[np.ndarray, MosaicLayout]:
    """One stage's mosaic and the layout that maps its pixels back to (channel, y, x)."""
    return _mosaics([stage], per_channel, max_tiles, magnitude_map, min_tile, max_pixels)[stage.name]


def stage_thumbnails(stages: Sequence[Stage], size: int = 40, magnitude_map: str = "viridis") -> dict[str, np.ndarray]:
    """A small picture per stage (mean over channels), all normalised and colour-mapped in one batch on
    the device and copied to the host once: per-stage mosaics cost more in op overhead than in maths."""
    if not stages:
        return {}
    device = stages[0].output.device
    batch = torch.full((len(stages), size, size), float("nan"), device=device)
    shapes, signed = [], []
    groups: dict[tuple[int, int, int, int], list[tuple[int, torch.Tensor]]] = {}
    for i, stage in enumerate(stages):
        mean = as_maps(stage.output.detach()).float().mean(dim=0)  # NaN (vector padding) stays NaN: a gap
        h, w = mean.shape
        factor = size / max(h, w)
        th, tw = max(1, round(h * factor)), max(1, round(w * factor))
        groups.setdefault((h, w, th, tw), []).append((i, mean))
        shapes.append((th, tw))
        signed.append(stage.kind in SIGNED_KINDS)
    for (h, w, th, tw), members in groups.items():  # one resize per map size: ResNets repeat a few sizes
        means = torch.stack([m for _, m in members])[:, None]
        small = torch.nn.functional.interpolate(means, size=(th, tw), mode="area" if th < h or tw < w else "nearest")
        batch[[i for i, _ in members], :th, :tw] = small[:, 0]
    valid = torch.isfinite(batch)
    clean = torch.where(valid, batch, torch.zeros((), device=device))
    scale = clean.abs().amax(dim=(1, 2), keepdim=True).clamp_min(1e-12)
    low = torch.where(valid, batch, torch.full((), float("inf"), device=device)).amin(dim=(1, 2), keepdim=True)
    # signed: a conv-like kind, or a thumbnail that goes negative (one batched test instead of a min per stage)
    is_signed_t = torch.tensor(signed, device=device).view(-1, 1, 1) | (low < 0)
    high = clean.amax(dim=(1, 2), keepdim=True)
    idx = torch.where(is_signed_t, 127.5 + 127.5 * clean / scale, 255.0 * (clean - low) / (high - low).clamp_min(1e-12))
    idx = idx.round().clamp(0, 255).long()
    diverging = torch.from_numpy(colormap("diverging")).to(device)
    sequential = torch.from_numpy(colormap(magnitude_map)).to(device)
    rgb = torch.where(is_signed_t[..., None], diverging[idx], sequential[idx]).cpu().numpy()
    return {stage.name: rgb[i, :th, :tw] for i, (stage, (th, tw)) in enumerate(zip(stages, shapes, strict=True))}


def filter_grid(weight: torch.Tensor, in_channel: int | None = None, colour: bool = True,
                scale: int = 8) -> np.ndarray:
    """Conv weights (O, I, kh, kw) as a grid: RGB for 3-channel first layers, else one input channel.

    ``in_channel=None`` on a deep layer shows the mean over input channels.
    """
    w = weight.detach().float()
    if w.dim() != 4:
        raise ValueError(f"expected conv weights (O, I, kh, kw), got {tuple(w.shape)}")
    if colour and w.shape[1] == 3 and in_channel is None:
        limit = w.abs().amax(dim=(1, 2, 3), keepdim=True).clamp_min(1e-12)
        rgb = ((w / limit) * 127.5 + 127.5).round().clamp(0, 255).to(torch.uint8)  # (O, 3, kh, kw)
        rgb = rgb.repeat_interleave(scale, 2).repeat_interleave(scale, 3)
        o, _, h, wd = rgb.shape
        cols = max(1, math.ceil(math.sqrt(o)))
        rows = math.ceil(o / cols)
        canvas = torch.full((rows * cols, h + 1, wd + 1, 3), GAP_RGB[0], dtype=torch.uint8, device=w.device)
        canvas[:o, :h, :wd] = rgb.permute(0, 2, 3, 1)
        grid = canvas.view(rows, cols, h + 1, wd + 1, 3).permute(0, 2, 1, 3, 4)
        grid = grid.reshape(rows * (h + 1), cols * (wd + 1), 3)
        return grid[:-1, :-1].cpu().numpy()
    maps = w[:, in_channel] if in_channel is not None else w.mean(dim=1)
    return mosaic_rgb(maps, colormap("diverging"), signed=True, per_channel=True, scale=scale)


def probability_bars(probabilities: Sequence[float] | np.ndarray, names: Sequence[str], top: int = 10,
                     width: int = 420, row: int = 26) -> np.ndarray:
    """Top-k horizontal bars with class names and percentages; the winner is highlighted."""
    p = np.asarray(probabilities, np.float64)
    order = np.argsort(-p)[:top]
    canvas = np.full((row * len(order) + 8, width, 3), 255, np.uint8)
    label_w = 150
    for i, k in enumerate(order):
        y = 4 + i * row
        colour = (214, 96, 77) if i == 0 else (67, 147, 195)
        bar = int((width - label_w - 70) * float(p[k]))
        cv2.rectangle(canvas, (label_w, y + 3), (label_w + bar, y + row - 4), colour, -1)
        cv2.putText(canvas, str(names[k])[:20], (6, y + row - 9), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1,
                    cv2.LINE_AA)
        cv2.putText(canvas, f"{p[k] * 100:.1f}%", (label_w + bar + 6, y + row - 9), cv2.FONT_HERSHEY_SIMPLEX, 0.45,
                    (0, 0, 0), 1, cv2.LINE_AA)
    return canvas
