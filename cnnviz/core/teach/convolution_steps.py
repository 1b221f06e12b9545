"""Convolution in motion: every position of a conv's (or pool's) sliding window, step by step.

For one output channel of a captured conv stage, step ``i`` is output position (y, x) in row-major
order: the input patch under the window (every input channel the channel reads, with the padded
border filled with the padding value), the kernel, their products, the per-channel sums, the total
with the bias, and the ReLU of it. A pool stage gives the window of its own channel and which value
wins (max) or the mean (avg); adaptive pools (ResNet's global average) give their windows of varying size.
Stride, padding and dilation are the module's own; the numbers are the
capture's real input and the module's real weights, and one position's arithmetic is
:func:`cnnviz.core.engine.arithmetic.conv_arithmetic`, the one the hover read-out uses.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from torch import nn

from cnnviz.core.engine.arithmetic import conv_arithmetic
from cnnviz.core.engine.capture import Capture, Stage
from cnnviz.core.errors import CnnvizError

_ADAPTIVE = (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)


class SweepError(CnnvizError):
    """A stage whose window cannot be swept (not a 2-D conv or pool, or a channel it does not have)."""


@dataclass(frozen=True)
class StepDetail:
    """One position of the window. ``box`` is (y0, x0, y1, x1) in input coordinates, end exclusive; it reaches
    outside 0..H, 0..W where the window hangs over the padding. For a pool, ``kernel``, ``products`` and
    ``per_channel`` are None and ``total`` is the pooled value."""

    index: int
    y: int
    x: int
    patch: np.ndarray  # (C, kh, kw): the input channels the output channel reads; padding value outside
    inside: np.ndarray  # (kh, kw) bool: which taps fall on the input (not the padding)
    input_channels: tuple[int, ...]  # the input channels the patch's rows are
    kernel: np.ndarray | None  # (C, kh, kw)
    products: np.ndarray | None  # (C, kh, kw)
    per_channel: np.ndarray | None  # (C,)
    bias: float
    total: float  # conv: sum of products + bias; pool: the pooled value
    relu: float  # max(total, 0): what a ReLU after it passes on
    box: tuple[int, int, int, int]
    winner: tuple[int, int] | None = None  # max pool: (i, j) in the window of the value that wins
    divisor: int | None = None  # avg pool: what the sum is divided by


class ConvSweep:
    """All the window positions of one output channel of a conv or pool stage."""

    def __init__(self, stage: Stage, channel: int, inputs: np.ndarray, module: nn.Module) -> None:
        self.stage_name = stage.name
        self.channel = channel
        self.captured = stage.output[0, channel].detach().float().cpu().numpy()  # (H_out, W_out)
        self.out_h, self.out_w = int(self.captured.shape[0]), int(self.captured.shape[1])
        self._inputs = inputs  # (C_in, H, W)
        self._module = module
        self.adaptive = isinstance(module, _ADAPTIVE)  # windows of varying size: kernel_size, stride are (0, 0)
        if isinstance(module, nn.Conv2d):
            self.kind = "conv"
            self.kernel_size = _pair(module.kernel_size)
            self.stride = _pair(module.stride)
            self.dilation = _pair(module.dilation)
            self.padding = _conv_padding(module)
            self.padding_value = 0.0
            self.groups = module.groups
            self._weight = module.weight.detach().float().cpu().numpy()
            self._bias = None if module.bias is None else module.bias.detach().float().cpu().numpy()
        elif self.adaptive:
            self.kind = "max" if isinstance(module, nn.AdaptiveMaxPool2d) else "avg"
            self.kernel_size = self.stride = self.padding = (0, 0)
            self.dilation = (1, 1)
            self.padding_value = 0.0
            self.groups = inputs.shape[0]
        else:
            self.kind = "max" if isinstance(module, nn.MaxPool2d) else "avg"
            self.kernel_size = _pair(module.kernel_size)  # type: ignore[arg-type]
            self.stride = _pair(module.stride or module.kernel_size)  # type: ignore[arg-type]
            self.padding = _pair(module.padding)  # type: ignore[arg-type]
            self.dilation = _pair(module.dilation) if isinstance(module, nn.MaxPool2d) else (1, 1)
            self.padding_value = -math.inf if self.kind == "max" else 0.0
            self.groups = inputs.shape[0]

    def __len__(self) -> int:
        return self.out_h * self.out_w

    @property
    def inputs(self) -> np.ndarray:
        """The map the window slides over, (C_in, H, W), before padding (a view draws it under the window)."""
        return self._inputs

    def __iter__(self) -> Iterator[StepDetail]:
        return (self.step(i) for i in range(len(self)))

    def position(self, index: int) -> tuple[int, int]:
        if not 0 <= index < len(self):
            raise IndexError(f"step {index} of {len(self)}")
        return divmod(index, self.out_w)

    def at(self, y: int, x: int) -> StepDetail:
        return self.step(y * self.out_w + x)

    def box(self, y: int, x: int) -> tuple[int, int, int, int]:
        if self.adaptive:  # as torch's adaptive pools: floor(i * H / out) to ceil((i + 1) * H / out)
            h, w = self._inputs.shape[1:]
            return ((y * h) // self.out_h, (x * w) // self.out_w, -((-(y + 1) * h) // self.out_h),
                    -((-(x + 1) * w) // self.out_w))
        y0 = y * self.stride[0] - self.padding[0]
        x0 = x * self.stride[1] - self.padding[1]
        return (y0, x0, y0 + self.dilation[0] * (self.kernel_size[0] - 1) + 1,
                x0 + self.dilation[1] * (self.kernel_size[1] - 1) + 1)

    def _inside(self, y: int, x: int) -> np.ndarray:
        y0, x0, y1, x1 = self.box(y, x)
        if self.adaptive:
            return np.ones((y1 - y0, x1 - x0), bool)
        ys = y0 + self.dilation[0] * np.arange(self.kernel_size[0])
        xs = x0 + self.dilation[1] * np.arange(self.kernel_size[1])
        h, w = self._inputs.shape[1:]
        return ((ys >= 0) & (ys < h))[:, None] & ((xs >= 0) & (xs < w))[None, :]

    def step(self, index: int) -> StepDetail:
        y, x = self.position(index)
        inside = self._inside(y, x)
        box = self.box(y, x)
        if self.kind == "conv":
            a = conv_arithmetic(self._inputs, self._weight, self._bias, self.stride, self.padding, self.dilation,
                                self.groups, self.channel, y, x)
            per_group = self._weight.shape[1]
            group = self.channel // (self._weight.shape[0] // self.groups)
            channels = tuple(range(group * per_group, (group + 1) * per_group))
            return StepDetail(index, y, x, a.patches, inside, channels, a.kernels, a.products, a.per_channel,
                              a.bias, a.value, max(a.value, 0.0), box)
        patch = self._pool_patch(y, x, inside)
        values = patch[0].astype(np.float64)
        winner = None
        divisor = None
        if self.kind == "max":
            flat = int(np.argmax(np.where(inside, values, -np.inf)))
            winner = divmod(flat, inside.shape[1])
            total = float(values[winner])
        else:
            divisor = self._divisor(y, x, inside)
            total = float(values[inside].sum()) / divisor
        return StepDetail(index, y, x, patch, inside, (self.channel,), None, None, None, 0.0, total,
                          max(total, 0.0), box, winner, divisor)

    def _pool_patch(self, y: int, x: int, inside: np.ndarray) -> np.ndarray:
        y0, x0, y1, x1 = self.box(y, x)
        if self.adaptive:
            return self._inputs[self.channel, y0:y1, x0:x1][None].astype(np.float32)
        patch = np.full((1, *self.kernel_size), self.padding_value, np.float32)
        source = self._inputs[self.channel]
        for i in range(self.kernel_size[0]):
            for j in range(self.kernel_size[1]):
                if inside[i, j]:
                    patch[0, i, j] = source[y0 + i * self.dilation[0], x0 + j * self.dilation[1]]
        return patch

    def _divisor(self, y: int, x: int, inside: np.ndarray) -> int:
        """As torch's avg_pool2d: the window clipped to the padded input, or to the input itself."""
        module = self._module
        override = getattr(module, "divisor_override", None)
        if override:
            return int(override)
        if not getattr(module, "count_include_pad", True):
            return int(inside.sum())
        y0, x0, y1, x1 = self.box(y, x)
        h, w = self._inputs.shape[1:]
        rows = min(y1, h + self.padding[0]) - y0
        cols = min(x1, w + self.padding[1]) - x0
        return rows * cols

    @cached_property
    def output(self) -> np.ndarray:
        """The whole output map as the sweep works it out, step by step (H_out, W_out); ReLU not applied."""
        out = np.empty((self.out_h, self.out_w), np.float32)
        for detail in self:
            out[detail.y, detail.x] = detail.total
        return out


def _pair(value: int | tuple[int, ...]) -> tuple[int, int]:
    if isinstance(value, int):
        return value, value
    return int(value[0]), int(value[1])


def _conv_padding(module: nn.Conv2d) -> tuple[int, int]:
    if module.padding_mode != "zeros":
        raise SweepError(f"this conv pads with '{module.padding_mode}', not zeros; the sweep shows zero padding only.")
    if isinstance(module.padding, str):  # 'valid' or 'same' (torch puts the odd one on the right and bottom)
        if module.padding == "valid":
            return 0, 0
        kernel, dilation = _pair(module.kernel_size), _pair(module.dilation)
        return dilation[0] * (kernel[0] - 1) // 2, dilation[1] * (kernel[1] - 1) // 2
    return _pair(module.padding)


def sweepable(stage: Stage) -> bool:
    """Whether ``conv_steps`` can sweep this stage: a 2-D conv with zero padding, or a max or avg pool module
    (adaptive ones too)."""
    module = stage.module
    if isinstance(module, nn.Conv2d):
        return module.padding_mode == "zeros" and stage.output.dim() == 4
    return isinstance(module, (nn.MaxPool2d, nn.AvgPool2d, *_ADAPTIVE)) and stage.output.dim() == 4


def conv_steps(result: Capture, stage_name: str, channel: int) -> ConvSweep:
    """The sliding window of ``stage_name``'s output ``channel`` over the capture's first sample."""
    try:
        stage = result.by_name(stage_name)
    except KeyError:
        raise SweepError(f"there is no stage {stage_name} in this model.") from None
    module = stage.module
    if not isinstance(module, (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d, *_ADAPTIVE)) or stage.output.dim() != 4:
        raise SweepError(f"{stage_name} is a {stage.kind} stage; the sliding window is shown for 2-D convolutions "
                         "and max or average pools.")
    if isinstance(module, nn.Conv2d):
        _conv_padding(module)  # refuses reflect/replicate/circular padding before any work
    channels = stage.output.shape[1]
    if not 0 <= channel < channels:
        raise SweepError(f"{stage_name} has channels 0 to {channels - 1}; there is no channel {channel}.")
    source = stage.inputs[0] if stage.inputs else "input"
    tensor = result.input if source == "input" else result.by_name(source).output
    inputs = tensor[0].detach().float().cpu().numpy()
    wanted = module.in_channels if isinstance(module, nn.Conv2d) else channels
    if tensor.dim() != 4 or inputs.shape[0] != wanted:
        raise SweepError(f"the input of {stage_name} was not captured as a map of {wanted} channels "
                         "(a model traced by hooks shows only the stage before it).")
    return ConvSweep(stage, channel, inputs, module)
