"""Dead and saturated channels: the first things to look for when a network does not learn."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

#: A bounded activation's map at its bound on at least this share of positions counts as saturated.
SATURATION = 0.95


@dataclass(frozen=True)
class ChannelHealth:
    dead: tuple[int, ...]  # channels that are zero everywhere on this input (after a ReLU)
    saturated: tuple[int, ...]  # channels pinned at their activation's bound almost everywhere
    bound: str  # how saturation was judged, for the tooltip


_BOUNDS: dict[type, tuple[float, float]] = {nn.Sigmoid: (0.0, 1.0), nn.Tanh: (-1.0, 1.0), nn.ReLU6: (0.0, 6.0),
                                            nn.Hardtanh: (-1.0, 1.0), nn.Hardsigmoid: (0.0, 1.0)}


def channel_health(maps: torch.Tensor, kind: str, module: nn.Module | None = None,
                   after_relu: bool = False) -> ChannelHealth:
    """Flag dead and saturated channels of one stage's (C, H, W) output on the current input.

    Dead: a rectified map (a ReLU, or a pool right after one) that is zero everywhere, so nothing downstream
    hears from that filter on this input. Saturated: a bounded activation (sigmoid, tanh, ReLU6, ...) at its
    bound on at least 95 % of the map, where its gradient is (almost) zero.
    """
    if maps.dim() != 3:
        return ChannelHealth((), (), "")
    x = maps.detach().float()
    dead: tuple[int, ...] = ()
    if kind == "relu" or (after_relu and kind == "pool"):
        dead = tuple(int(i) for i in torch.nonzero(x.flatten(1).abs().amax(1) == 0).flatten().tolist())
    bounds = next((b for t, b in _BOUNDS.items() if isinstance(module, t)), None)
    saturated: tuple[int, ...] = ()
    if bounds is not None:
        low, high = bounds
        span = high - low
        at_bound = (x >= high - 0.05 * span) | (x <= low + 0.05 * span)
        share = at_bound.flatten(1).float().mean(1)
        saturated = tuple(int(i) for i in torch.nonzero(share >= SATURATION).flatten().tolist())
    return ChannelHealth(dead, saturated, f"bounded to [{bounds[0]:g}, {bounds[1]:g}]" if bounds else "")
