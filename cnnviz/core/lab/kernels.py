"""Hand-made convolution kernels: presets, a JSON file format, and conv -> ReLU -> pool.

The pipeline computes a correlation (no kernel flip), exactly what ``cv2.filter2D`` (which runs it)
and a conv layer compute, with a zero border for ``same`` padding. Even-sized kernels use
OpenCV's anchor (``size // 2``), so a 4x4 edge filter lands where filter2D puts it.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from cnnviz.core.errors import KernelError
from cnnviz.core.fileio import atomic_write_text, read_small_text

MAX_KERNEL_SIZE = 9
MAX_BANK = 16
FORMAT = "cnnviz-kernels"
MAX_FILE_BYTES = 1024 * 1024

_EDGE4 = np.array([[-1, -1, 1, 1]] * 4, np.float32)

PRESETS: dict[str, np.ndarray] = {
    "identity": np.array([[0, 0, 0], [0, 1, 0], [0, 0, 0]], np.float32),
    "box-blur-3": np.full((3, 3), 1 / 9, np.float32),
    "box-blur-5": np.full((5, 5), 1 / 25, np.float32),
    "gaussian-3": np.outer([1, 2, 1], [1, 2, 1]).astype(np.float32) / 16,
    "gaussian-5": np.outer([1, 4, 6, 4, 1], [1, 4, 6, 4, 1]).astype(np.float32) / 256,
    "sharpen": np.array([[0, -1, 0], [-1, 5, -1], [0, -1, 0]], np.float32),
    "emboss": np.array([[-2, -1, 0], [-1, 1, 1], [0, 1, 2]], np.float32),
    "outline": np.array([[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]], np.float32),
    "laplacian": np.array([[0, 1, 0], [1, -4, 1], [0, 1, 0]], np.float32),
    "sobel-x": np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], np.float32),
    "sobel-y": np.array([[-1, -2, -1], [0, 0, 0], [1, 2, 1]], np.float32),
    "scharr-x": np.array([[-3, 0, 3], [-10, 0, 10], [-3, 0, 3]], np.float32),
    "scharr-y": np.array([[-3, -10, -3], [0, 0, 0], [3, 10, 3]], np.float32),
    "prewitt-x": np.array([[-1, 0, 1], [-1, 0, 1], [-1, 0, 1]], np.float32),
    "prewitt-y": np.array([[-1, -1, -1], [0, 0, 0], [1, 1, 1]], np.float32),
    "edge4-v": _EDGE4,
    "edge4-v-neg": -_EDGE4,
    "edge4-h": _EDGE4.T.copy(),
    "edge4-h-neg": -_EDGE4.T.copy(),
}
#: The classic lesson's bank: four 4x4 filters of -1 and 1.
EDGE4_BANK = ("edge4-v", "edge4-v-neg", "edge4-h", "edge4-h-neg")


@dataclass(frozen=True, eq=False)
class Kernel:
    """A named kernel. Compared by identity (an edit makes a new Kernel), so states that hold a bank
    compare without looking at every weight."""

    name: str
    weights: np.ndarray  # float32 (h, w), finite, 1..9 on a side


def preset(name: str) -> Kernel:
    if name not in PRESETS:
        raise KernelError(f"There is no kernel preset '{name}'; presets: {', '.join(PRESETS)}.")
    return Kernel(name, PRESETS[name].copy())


def validate_weights(values: object, name: str = "kernel") -> np.ndarray:
    """A rectangular grid of finite numbers, 1x1 to 9x9, or a KernelError saying what is wrong."""
    if not isinstance(values, list | tuple | np.ndarray) or len(values) == 0:
        raise KernelError(f"{name}: weights must be a list of rows of numbers.")
    rows = list(values)
    if not all(isinstance(r, list | tuple | np.ndarray) for r in rows):
        raise KernelError(f"{name}: weights must be a list of rows, e.g. [[0, 1], [1, 0]].")
    widths = {len(r) for r in rows}
    if len(widths) != 1:
        raise KernelError(f"{name}: rows have different lengths ({sorted(widths)}); a kernel must be rectangular.")
    height, width = len(rows), widths.pop()
    if not (1 <= height <= MAX_KERNEL_SIZE and 1 <= width <= MAX_KERNEL_SIZE):
        raise KernelError(f"{name}: {height}x{width} is outside 1x1..{MAX_KERNEL_SIZE}x{MAX_KERNEL_SIZE}.")
    out = np.empty((height, width), np.float32)
    for i, row in enumerate(rows):
        for j, value in enumerate(row):
            if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
                raise KernelError(f"{name}: row {i + 1}, column {j + 1} is {value!r}, not a number.")
            try:
                number = float(value)
            except OverflowError:
                number = math.inf
            if not math.isfinite(number) or abs(number) > 3.4e38:
                raise KernelError(f"{name}: row {i + 1}, column {j + 1} is {value!r}; weights must be finite.")
            out[i, j] = number
    return out


def _refuse_constant(token: str) -> float:
    raise KernelError(f"the file contains {token}; kernel weights must be finite numbers.")


def parse_bank(text: str, source: str = "kernel file") -> list[Kernel]:
    """Kernels from JSON: the cnnviz format, a list of kernel objects, or one bare grid."""
    try:
        data = json.loads(text, parse_constant=_refuse_constant)
    except KernelError as exc:
        raise KernelError(f"{source}: {exc}") from None
    except RecursionError:
        raise KernelError(f"{source} is nested too deeply to be a kernel file.") from None
    except json.JSONDecodeError as exc:
        raise KernelError(f"{source} is not valid JSON ({exc.msg} at line {exc.lineno}).") from None
    except ValueError as exc:  # JSON that Python will not convert, such as an integer of thousands of digits
        raise KernelError(f"{source} is not a kernel file Python can read ({exc}).") from None
    if isinstance(data, dict) and "kernels" in data:
        items = data["kernels"]
    elif isinstance(data, dict) and "weights" in data:
        items = [data]
    elif isinstance(data, list) and data and all(isinstance(r, list) for r in data):
        items = [{"name": Path(source).stem, "weights": data}]
    else:
        items = data
    if not isinstance(items, list) or not items:
        raise KernelError(f"{source} holds no kernels (expected {{\"kernels\": [{{\"name\", \"weights\"}}]}}).")
    if len(items) > MAX_BANK:
        raise KernelError(f"{source} holds {len(items)} kernels; a bank has at most {MAX_BANK}.")
    kernels = []
    for index, item in enumerate(items):
        if not isinstance(item, dict) or "weights" not in item:
            raise KernelError(f"{source}: kernel {index + 1} has no 'weights'.")
        name = str(item.get("name") or f"kernel {index + 1}")[:64]
        kernels.append(Kernel(name, validate_weights(item["weights"], f"{source}: {name}")))
    return kernels


def load_bank(path: str | Path) -> list[Kernel]:
    path = Path(path)
    return parse_bank(read_small_text(path, MAX_FILE_BYTES, "kernel file", KernelError), path.name)


def dump_bank(kernels: list[Kernel]) -> str:
    data = {"format": FORMAT, "version": 1,
            "kernels": [{"name": k.name, "weights": k.weights.astype(float).tolist()} for k in kernels]}
    return json.dumps(data, indent=1, allow_nan=False)


def save_bank(path: str | Path, kernels: list[Kernel]) -> None:
    """Write atomically: a failed save leaves any existing file byte-identical."""
    atomic_write_text(Path(path), dump_bank(kernels))


def resolve_kernel(spec: str) -> list[Kernel]:
    """A preset name or a JSON file (which may hold several kernels)."""
    if spec in PRESETS:
        return [preset(spec)]
    if spec == "edge4":
        return [preset(n) for n in EDGE4_BANK]
    if spec.endswith(".json") or os.sep in spec or Path(spec).exists():
        return load_bank(spec)
    raise KernelError(f"'{spec}' is neither a kernel preset nor a .json file; presets: {', '.join(PRESETS)}.")


@dataclass(frozen=True)
class PipelineResult:
    """Each array is stacked over kernels: (K, H', W')."""

    input: np.ndarray
    kernels: list[Kernel]
    conv: np.ndarray
    relu: np.ndarray
    pool: np.ndarray


def conv_same_padding(height: int, width: int) -> tuple[int, int, int, int]:
    """(left, right, top, bottom) zero padding that puts the anchor where filter2D puts it."""
    ax, ay = width // 2, height // 2
    return ax, width - 1 - ax, ay, height - 1 - ay


def run_pipeline(grey: np.ndarray, kernels: list[Kernel], padding: str = "same", stride: int = 1,
                 pool: int = 2, pool_kind: str = "max") -> PipelineResult:
    """conv -> ReLU -> pool for every kernel of a bank on a grey float image in [0, 1].

    Computed with OpenCV and NumPy, not torch: one single-channel map at a time is where torch's CPU
    conv and pooling are slowest (filter2D is ~8x, strided maxima ~10x faster here at 512x512); the
    tests hold the results to torch's conv2d and pooling."""
    if padding not in ("same", "valid"):
        raise KernelError(f"padding must be 'same' or 'valid', not '{padding}'.")
    if stride < 1 or pool < 1:
        raise KernelError("stride and pool size must be at least 1.")
    if not kernels:
        raise KernelError("the kernel bank is empty; add at least one kernel.")
    image = np.ascontiguousarray(grey, dtype=np.float32)
    convs = [convolve(image, kernel, padding, stride) for kernel in kernels]
    conv = np.stack(convs)
    relu = np.maximum(conv, 0.0)
    pooled = np.stack([pool_map(r, pool, pool_kind) for r in relu]) if pool > 1 and min(relu.shape[-2:]) >= pool \
        else relu
    return PipelineResult(image, list(kernels), conv, relu, pooled)


def convolve(image: np.ndarray, kernel: Kernel, padding: str = "same", stride: int = 1) -> np.ndarray:
    """One kernel over a float32 image, as a conv layer computes it (correlation, zero border)."""
    kh, kw = kernel.weights.shape
    if padding == "valid" and (kh > image.shape[0] or kw > image.shape[1]):
        raise KernelError(f"{kernel.name} ({kh}x{kw}) is larger than the {image.shape[1]}x{image.shape[0]} "
                          f"input; use 'same' padding or a bigger image.")
    out = cv2.filter2D(image, cv2.CV_32F, kernel.weights, borderType=cv2.BORDER_CONSTANT)
    if padding == "valid":
        ay, ax = kh // 2, kw // 2
        out = out[ay: ay + image.shape[0] - kh + 1, ax: ax + image.shape[1] - kw + 1]
    return np.ascontiguousarray(out[::stride, ::stride])


def pool_map(values: np.ndarray, size: int, kind: str = "max") -> np.ndarray:
    """Non-overlapping size x size pooling (floor mode), as max_pool2d / avg_pool2d compute it."""
    h, w = values.shape[0] // size, values.shape[1] // size
    out = values[0: h * size: size, 0: w * size: size].copy()
    combine = np.maximum if kind == "max" else np.add
    for dy in range(size):
        for dx in range(size):
            if dy or dx:
                combine(out, values[dy: h * size: size, dx: w * size: size], out=out)
    return out if kind == "max" else out / np.float32(size * size)
