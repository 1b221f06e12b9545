"""What the hover arithmetic needs of the selected stage, kept on the worker's tensors and copied to
the host only when the pointer is over a map.

A frame used to copy the stage's values, the whole conv input and its weights to the host on every
update, though nobody was hovering (on a GPU each copy is a synchronisation). Here the frame keeps
references: captured outputs are fresh tensors every frame and never written again, and the weights
are snapshotted once per weight version (a kernel edit on the worker must not change numbers the
GUI is reading), so the GUI thread can read them later without a lock.
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from cnnviz.core.engine.arithmetic import ConvArithmetic, conv_arithmetic
from cnnviz.core.engine.capture import Capture, Stage


@dataclass(frozen=True)
class ConvSource:
    inputs: torch.Tensor  # (C_in, H, W), the conv's input on this frame
    weight: torch.Tensor  # a snapshot of the weights of this version
    bias: torch.Tensor | None
    stride: tuple[int, int]
    padding: tuple[int, int]
    dilation: tuple[int, int]
    groups: int


class HoverData:
    """The selected stage's (C, H, W) values and, for a conv, its input and weights; host copies on first use."""

    def __init__(self, values: torch.Tensor, conv: ConvSource | None) -> None:
        self._values = values
        self._conv = conv
        self._host: dict[str, np.ndarray | None] = {}
        self._lock = threading.Lock()

    @property
    def is_conv(self) -> bool:
        return self._conv is not None

    @property
    def values(self) -> np.ndarray:
        """The stage's output (C, H, W) as float32 on the host."""
        return self._array("values", self._values)

    def value(self, channel: int, y: int, x: int) -> float | None:
        values = self.values
        if not (0 <= channel < values.shape[0] and 0 <= y < values.shape[1] and 0 <= x < values.shape[2]):
            return None
        return float(values[channel, y, x])

    def arithmetic(self, channel: int, y: int, x: int) -> ConvArithmetic | None:
        """The conv's sum at (channel, y, x), term by term; None for a stage that is not a conv."""
        conv = self._conv
        if conv is None:
            return None
        bias = self._array("bias", conv.bias) if conv.bias is not None else None
        return conv_arithmetic(self._array("inputs", conv.inputs), self._array("weight", conv.weight), bias,
                               conv.stride, conv.padding, conv.dilation, conv.groups, channel, y, x)

    def _array(self, key: str, tensor: torch.Tensor) -> np.ndarray:
        with self._lock:
            host = self._host.get(key)
            if host is None:
                host = self._host[key] = tensor.detach().float().cpu().numpy()
            return host


#: Each conv module's latest weight snapshot and the version it was taken at. Keyed weakly by the module, so
#: a snapshot goes with its model (keyed by ``id(module)`` it outlived it, and a later model's module at the
#: same address could be given the dead one's weights); frames already made keep their own snapshots.
_WEIGHTS: weakref.WeakKeyDictionary[nn.Module, tuple[tuple, tuple[torch.Tensor, torch.Tensor | None]]] = \
    weakref.WeakKeyDictionary()


def _snapshot(module: nn.Conv2d) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The module's weight and bias as they are now, copied once per version (an edit moves the version)."""
    weight = module.weight
    bias = module.bias
    version = (weight.data_ptr(), weight._version, None if bias is None else bias._version, str(weight.device))
    cached = _WEIGHTS.get(module)
    if cached is None or cached[0] != version:
        cached = _WEIGHTS[module] = (version, (weight.detach().clone(),
                                               None if bias is None else bias.detach().clone()))
    return cached[1]


def _pair(values: tuple[int, ...]) -> tuple[int, int]:
    """A Conv2d's stride, padding or dilation (two ints once the module is built) as a pair."""
    return values[0], values[1]


def hover_data(capture: Capture, stage: Stage, maps: torch.Tensor) -> HoverData:
    """``maps``: the stage's output as (C, H, W), as the mosaic shows it."""
    module = stage.module
    conv = None
    if isinstance(module, nn.Conv2d) and not isinstance(module.padding, str):
        source = stage.inputs[0] if stage.inputs else "input"
        tensor = capture.input if source == "input" else capture.by_name(source).output
        weight, bias = _snapshot(module)
        conv = ConvSource(tensor[0].detach(), weight, bias, _pair(module.stride), _pair(module.padding),
                          _pair(module.dilation), module.groups)
    return HoverData(maps.detach(), conv)
