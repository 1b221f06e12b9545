"""Editing kernels: parsing a typed cell, the transforms of the kernel editor.

Every function returns a new array: the editor keeps the last valid kernel, so an
invalid entry never replaces the kernel in use.
"""

from __future__ import annotations

import math

import numpy as np

from cnnviz.core.errors import KernelError
from cnnviz.core.lab.kernels import MAX_KERNEL_SIZE

MAX_WEIGHT = 1e6


def parse_cell(text: str) -> float:
    """A typed weight, or a KernelError with the reason shown at the cell."""
    stripped = text.strip()
    if not stripped:
        raise KernelError("empty: type a number")
    try:
        value = float(stripped.replace(",", "."))
    except ValueError:
        raise KernelError(f"'{stripped[:20]}' is not a number") from None
    if math.isnan(value):
        raise KernelError("NaN is not a weight: type a number")
    if math.isinf(value) or abs(value) > MAX_WEIGHT:
        raise KernelError(f"too large: weights must be finite and within ±{MAX_WEIGHT:g}")
    return value


def negate(k: np.ndarray) -> np.ndarray:
    return (-k).astype(np.float32)


def transpose(k: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(k.T, dtype=np.float32)


def rotate90(k: np.ndarray) -> np.ndarray:
    """Counter-clockwise, as np.rot90."""
    return np.ascontiguousarray(np.rot90(k), dtype=np.float32)


def flip_horizontal(k: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(k[:, ::-1], dtype=np.float32)


def flip_vertical(k: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(k[::-1], dtype=np.float32)


def normalise_sum(k: np.ndarray) -> np.ndarray:
    """Scale so the weights sum to 1 (a blur keeps brightness); refused when they sum to 0."""
    total = float(k.sum())
    if abs(total) < 1e-12:
        raise KernelError("the weights sum to 0, so they cannot be scaled to sum to 1; try zero mean instead")
    return (k / total).astype(np.float32)


def zero_mean(k: np.ndarray) -> np.ndarray:
    """Subtract the mean: the kernel then ignores flat regions and responds to change only."""
    return (k - k.mean()).astype(np.float32)


def random_kernel(height: int, width: int, rng: np.random.Generator | None = None) -> np.ndarray:
    rng = rng or np.random.default_rng()
    return np.round(rng.normal(0, 1, (height, width)), 2).astype(np.float32)


def resize_kernel(k: np.ndarray, height: int, width: int) -> np.ndarray:
    """Change the grid size, keeping the old weights centred (new cells are 0)."""
    if not (1 <= height <= MAX_KERNEL_SIZE and 1 <= width <= MAX_KERNEL_SIZE):
        raise KernelError(f"kernels are 1x1 to {MAX_KERNEL_SIZE}x{MAX_KERNEL_SIZE}")
    out = np.zeros((height, width), np.float32)
    h, w = k.shape
    sy, dy = max(0, (h - height) // 2), max(0, (height - h) // 2)
    sx, dx = max(0, (w - width) // 2), max(0, (width - w) // 2)
    ch, cw = min(h, height), min(w, width)
    out[dy:dy + ch, dx:dx + cw] = k[sy:sy + ch, sx:sx + cw]
    return out


TRANSFORMS = {
    "negate": negate, "transpose": transpose, "rotate 90": rotate90, "flip left-right": flip_horizontal,
    "flip up-down": flip_vertical, "sum to 1": normalise_sum, "zero mean": zero_mean,
}
