"""The kernel lab's update as a pure function: a grey image and a bank in, pictures out.

Runs on the worker thread at the input's full resolution; the GUI only paints the rows.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field, replace

import numpy as np
import torch

from cnnviz.core.engine.preprocess import grey_float, quantile
from cnnviz.core.engine.render import colormap, mosaic_rgb
from cnnviz.core.lab.kernels import Kernel, run_pipeline

#: Photos larger than this on their longer side are shrunk first (a 4000 px photo would take seconds).
MAX_SIDE = 1024
#: Pictures are shrunk to this size for display on the worker; the computation stays at full resolution.
DISPLAY_SIDE = 200


@dataclass(frozen=True)
class LabRequest:
    rgb: np.ndarray
    kernels: tuple[Kernel, ...]
    padding: str = "same"
    stride: int = 1
    pool: int = 2
    pool_kind: str = "max"
    stamp: float = field(default_factory=time.perf_counter)


@dataclass(frozen=True)
class LabRow:
    name: str
    kernel: np.ndarray  # RGB pictures
    conv: np.ndarray
    relu: np.ndarray
    pool: np.ndarray
    conv_range: tuple[float, float]
    shapes: tuple[tuple[int, int], tuple[int, int]]  # conv, pool


@dataclass(frozen=True)
class LabResult:
    stamp: float
    grey: np.ndarray  # uint8, what the kernels ran on
    rows: tuple[LabRow, ...]
    conv: tuple[np.ndarray, ...]  # raw conv output per kernel (H', W') float32: for checks and hover
    ms: float


#: Colours saturate at this percentile of |value|, so that a few extreme pixels (the zero-padded
#: border of a photo gives some) do not darken everything else. Captions keep the true range.
DISPLAY_PERCENTILE = 99.5


def _picture(array: np.ndarray, signed: bool, scale: int = 1, robust: bool = False) -> np.ndarray:
    import cv2

    lut = colormap("diverging" if signed else "viridis")
    h, w = array.shape
    array = np.ascontiguousarray(array, dtype=np.float32)
    if max(h, w) > DISPLAY_SIDE:  # shrink the values (area average), then colour: 7x fewer pixels to map
        factor = DISPLAY_SIDE / max(h, w)
        array = cv2.resize(array, (max(1, round(w * factor)), max(1, round(h * factor))),
                           interpolation=cv2.INTER_AREA)
    if robust and array.size > 64:
        limit = quantile(np.abs(array), DISPLAY_PERCENTILE / 100.0)
        if limit > 0:
            array = np.clip(array, -limit, limit)
    return mosaic_rgb(torch.from_numpy(array)[None], lut, signed, scale=scale)


class _RowCache:
    """The rows of the last image: an edit changes one kernel, so the other rows are kept (the lab
    recomputes one row of four, not the bank). Only the worker thread runs the lab; the lock is for tests."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.rgb: np.ndarray | None = None
        self.grey: np.ndarray | None = None
        self.grey8: np.ndarray | None = None
        self.rows: dict[tuple, tuple[LabRow, np.ndarray]] = {}

    def grey_of(self, rgb: np.ndarray) -> np.ndarray:
        if self.rgb is None or self.rgb.shape != rgb.shape or not np.array_equal(self.rgb, rgb):
            self.rgb, self.grey, self.rows = rgb.copy(), _working_grey(rgb), {}
            self.grey8 = (np.clip(self.grey, 0, 1) * 255 + 0.5).astype(np.uint8)
        assert self.grey is not None
        return self.grey


_CACHE = _RowCache()


def _working_grey(rgb: np.ndarray) -> np.ndarray:
    grey = grey_float(rgb)
    h, w = grey.shape
    if max(h, w) > MAX_SIDE:
        import cv2

        factor = MAX_SIDE / max(h, w)
        grey = cv2.resize(grey, (max(1, round(w * factor)), max(1, round(h * factor))), interpolation=cv2.INTER_AREA)
    return grey


def _row(grey: np.ndarray, kernel: Kernel, request: LabRequest) -> tuple[LabRow, np.ndarray]:
    result = run_pipeline(grey, [kernel], request.padding, request.stride, request.pool, request.pool_kind)
    conv, relu, pool = result.conv[0], result.relu[0], result.pool[0]
    kernel_scale = max(1, 64 // max(kernel.weights.shape))
    row = LabRow(kernel.name, _picture(kernel.weights, True, kernel_scale), _picture(conv, True, robust=True),
                 _picture(relu, False, robust=True), _picture(pool, False, robust=True),
                 (float(conv.min()), float(conv.max())), (conv.shape, pool.shape))
    return row, conv


def run_lab(request: LabRequest) -> LabResult:
    start = time.perf_counter()
    with _CACHE.lock:
        grey = _CACHE.grey_of(request.rgb)
        rows, convs, kept = [], [], {}
        for kernel in request.kernels:
            key = (kernel.weights.tobytes(), kernel.weights.shape, request.padding, request.stride, request.pool,
                   request.pool_kind)
            row, conv = _CACHE.rows.get(key) or _row(grey, kernel, request)
            kept[key] = (row, conv)
            rows.append(replace(row, name=kernel.name) if row.name != kernel.name else row)
            convs.append(conv)
        _CACHE.rows = kept  # only the current bank's rows stay
        grey8 = _CACHE.grey8
    assert grey8 is not None  # grey_of made it
    return LabResult(request.stamp, grey8, tuple(rows), tuple(convs), (time.perf_counter() - start) * 1000)
