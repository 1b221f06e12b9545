"""Activations -> uint8 RGB images: stage mosaics, filter grids, probability bars.

Mosaics are normalised, colour-mapped and tiled on the model's device, and all the
stages asked for are copied to the host in one transfer (on a GPU every ``.cpu()`` is a
synchronisation). Signed maps (conv, norm, linear, add outputs) use a diverging map with
white at zero, so sign is visible; magnitudes (ReLU, pool) use a sequential map.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np
import torch

from cnnviz.core.capture import Stage

GAP_RGB = (48, 48, 48)
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


def is_signed(stage: Stage) -> bool:
    """Conv-like outputs get the diverging map; so does anything that actually goes negative."""
    return stage.kind in SIGNED_KINDS or bool(stage.output.min() < 0)


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


def _indices(maps: torch.Tensor, signed: bool, per_channel: bool) -> torch.Tensor:
    """Float maps -> LUT indices 0..255 (NaN padding -> -1, drawn as gap)."""
    x = maps.float()
    valid = torch.isfinite(x)
    clean = torch.where(valid, x, torch.zeros((), device=x.device))
    dims = (1, 2) if per_channel else (0, 1, 2)
    if signed:
        scale = clean.abs().amax(dim=dims, keepdim=True).clamp_min(1e-12)
        idx = 127.5 + 127.5 * clean / scale
    else:
        big = torch.where(valid, x, torch.full((), float("inf"), device=x.device))
        low = big.amin(dim=dims, keepdim=True)
        high = clean.amax(dim=dims, keepdim=True)
        idx = 255.0 * (clean - low) / (high - low).clamp_min(1e-12)
    idx = idx.round().clamp(0, 255).to(torch.int16)
    return torch.where(valid, idx, torch.full((), -1, dtype=torch.int16, device=x.device))


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


def mosaic_tensor(maps: torch.Tensor, lut: np.ndarray, signed: bool, per_channel: bool = True,
                  max_tiles: int | None = None, scale: int = 1, gap: int = 1, shrink: int = 1) -> torch.Tensor:
    """(C, H, W) maps -> (rows*(H+gap)-gap, cols*(W+gap)-gap, 3) uint8 RGB on the maps' device.

    ``shrink`` > 1 averages shrink x shrink blocks first (area resampling) for very large layers."""
    if max_tiles is not None:
        maps = maps[:max_tiles]
    if shrink > 1:
        h, w = maps.shape[-2:]
        maps = torch.nn.functional.interpolate(maps.float()[None], size=(-(-h // shrink), -(-w // shrink)),
                                               mode="area")[0]
    idx = _indices(maps, signed, per_channel)
    if scale > 1:
        idx = idx.repeat_interleave(scale, dim=1).repeat_interleave(scale, dim=2)
    c, h, w = idx.shape
    table = _lut_tensor(lut.tobytes(), idx.device)
    if c == 1:  # one map: no tiling (the kernel lab draws sixteen of these per edit)
        return table[torch.where(idx[0] < 0, torch.full((), 256, dtype=idx.dtype, device=idx.device), idx[0]).long()]
    layout = mosaic_layout(c, h, w, 1, gap)
    rows, cols = layout.rows, layout.cols
    # tile the one-channel indices first (a third of the bytes of RGB), then colour the grid in one lookup
    canvas = torch.full((rows * cols, h + gap, w + gap), 256, dtype=torch.int16, device=idx.device)
    canvas[:c, :h, :w] = torch.where(idx < 0, torch.full((), 256, dtype=idx.dtype, device=idx.device), idx)
    grid = canvas.view(rows, cols, h + gap, w + gap).permute(0, 2, 1, 3)
    grid = grid.reshape(rows * (h + gap), cols * (w + gap))[: rows * (h + gap) - gap, : cols * (w + gap) - gap]
    return table[grid.long()]


@lru_cache(maxsize=32)
def _lut_tensor(lut_bytes: bytes, device: torch.device) -> torch.Tensor:
    """A colour map plus the gap colour (index 256) as a (257, 3) uint8 tensor on ``device``, made once."""
    lut = np.frombuffer(lut_bytes, np.uint8).reshape(-1, 3)
    return torch.from_numpy(np.vstack([lut, np.array([GAP_RGB], np.uint8)])).to(device)


def stage_mosaics(stages: Sequence[Stage], per_channel: bool = True, max_tiles: int | None = 256,
                  magnitude_map: str = "viridis", min_tile: int = 1,
                  max_pixels: int | None = None) -> dict[str, np.ndarray]:
    """Mosaics of several stages, built on the device and copied to the host in one transfer.

    ``max_pixels`` caps each mosaic's size (see :func:`mosaic_shrink`)."""
    built: list[tuple[str, torch.Tensor]] = []
    for stage in stages:
        maps = as_maps(stage.output.detach())
        signed = is_signed(stage)
        lut = colormap("diverging" if signed else magnitude_map)
        scale = max(1, math.ceil(min_tile / max(1, min(maps.shape[-2:]))))
        shown = min(maps.shape[0], max_tiles) if max_tiles is not None else maps.shape[0]
        shrink = mosaic_shrink(shown, maps.shape[-2] * scale, maps.shape[-1] * scale, max_pixels)
        scale = 1 if shrink > 1 else scale  # (never both: enlarged tiles are small)
        built.append((stage.name, mosaic_tensor(maps, lut, signed, per_channel, max_tiles, scale, shrink=shrink)))
    if not built:
        return {}
    flat = torch.cat([m.reshape(-1) for _, m in built]).cpu().numpy()
    out: dict[str, np.ndarray] = {}
    offset = 0
    for name, m in built:
        size = m.numel()
        out[name] = flat[offset: offset + size].reshape(tuple(m.shape))
        offset += size
    return out


def stage_thumbnails(stages: Sequence[Stage], size: int = 40, magnitude_map: str = "viridis") -> dict[str, np.ndarray]:
    """A small picture per stage (mean over channels), all normalised and colour-mapped in one batch on
    the device and copied to the host once: per-stage mosaics cost more in op overhead than in maths."""
    if not stages:
        return {}
    device = stages[0].output.device
    batch = torch.full((len(stages), size, size), float("nan"), device=device)
    shapes, signed = [], []
    for i, stage in enumerate(stages):
        maps = as_maps(stage.output.detach()).float()
        mean = torch.nan_to_num(maps).mean(dim=0, keepdim=True)
        h, w = mean.shape[-2:]
        factor = size / max(h, w)
        th, tw = max(1, round(h * factor)), max(1, round(w * factor))
        small = torch.nn.functional.interpolate(mean[None], size=(th, tw), mode="area" if factor < 1 else "nearest")
        batch[i, :th, :tw] = small[0, 0]
        shapes.append((th, tw))
        signed.append(stage.kind in SIGNED_KINDS)
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
    return mosaic_tensor(maps, colormap("diverging"), signed=True, per_channel=True, scale=scale).cpu().numpy()


def probability_bars(probabilities: Sequence[float], names: Sequence[str], top: int = 10,
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
