"""The arithmetic behind one conv output pixel: input patch x kernel, summed, plus bias.

CNN Explainer shows this for its one fixed model; here it works for any Conv2d stage of
any captured model, from the stage's real input and weights (NumPy in, NumPy out, so the
GUI can call it on hover without touching torch).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ConvArithmetic:
    """For output channel ``channel`` at (y, x): per input channel patch, kernel and products."""

    channel: int
    y: int
    x: int
    patches: np.ndarray  # (C_in, kh, kw), zero where the window hangs over the padding
    kernels: np.ndarray  # (C_in, kh, kw)
    products: np.ndarray  # (C_in, kh, kw)
    bias: float
    value: float  # sum of products + bias

    @property
    def per_channel(self) -> np.ndarray:
        return self.products.sum(axis=(1, 2))

    @property
    def strongest_input(self) -> int:
        return int(np.argmax(np.abs(self.per_channel)))


def conv_arithmetic(inputs: np.ndarray, weight: np.ndarray, bias: np.ndarray | None, stride: tuple[int, int],
                    padding: tuple[int, int], dilation: tuple[int, int], groups: int, channel: int, y: int,
                    x: int) -> ConvArithmetic:
    """``inputs`` is the conv's input (C_in, H, W); ``weight`` its (C_out, C_in/groups, kh, kw)."""
    c_out, c_per_group, kh, kw = weight.shape
    group = channel // (c_out // groups)
    source = inputs[group * c_per_group:(group + 1) * c_per_group]
    patches = np.zeros((c_per_group, kh, kw), np.float32)
    for i in range(kh):
        for j in range(kw):
            yy = y * stride[0] - padding[0] + i * dilation[0]
            xx = x * stride[1] - padding[1] + j * dilation[1]
            if 0 <= yy < source.shape[1] and 0 <= xx < source.shape[2]:
                patches[:, i, j] = source[:, yy, xx]
    kernels = weight[channel].astype(np.float32)
    products = patches * kernels
    b = float(bias[channel]) if bias is not None else 0.0
    total = float(products.astype(np.float64).sum()) + b
    return ConvArithmetic(channel, y, x, patches, kernels, products, b, total)
