"""One GUI update as a pure function: an input image in, everything the views draw out.

The worker thread calls :func:`process_frame`; the GUI thread only paints the result.
Requests and results are frozen so that they can cross threads without copies or locks.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
from torch import nn

from cnnviz.core.inference import run_image
from cnnviz.core.render import stage_mosaics
from cnnviz.core.zoo import spec_of


@dataclass(frozen=True)
class FrameRequest:
    rgb: np.ndarray
    stage: str | None = None  # None: the first conv stage
    per_channel: bool = True
    top: int = 5
    stamp: float = field(default_factory=time.perf_counter)  # when the input was made


@dataclass(frozen=True)
class StageInfo:
    name: str
    kind: str
    shape: tuple[int, ...]


@dataclass(frozen=True)
class FrameResult:
    stamp: float
    stages: tuple[StageInfo, ...]
    selected: str
    mosaic: np.ndarray
    top: tuple[tuple[str, float], ...]
    steps: tuple[tuple[str, np.ndarray], ...]
    notes: tuple[str, ...]
    forward_ms: float
    model_name: str
    empty: bool


def process_frame(model: nn.Module, request: FrameRequest) -> FrameResult:
    """Prepare, capture, and build the mosaic of the selected stage (on the model's device)."""
    start = time.perf_counter()
    prediction = run_image(model, request.rgb, request.top)
    forward_ms = (time.perf_counter() - start) * 1000.0
    stages = prediction.capture.stages
    selected = request.stage if request.stage in {s.name for s in stages} else _default_stage(stages)
    stage = next(s for s in stages if s.name == selected)
    mosaic = stage_mosaics([stage], per_channel=request.per_channel)[selected]
    return FrameResult(request.stamp, tuple(StageInfo(s.name, s.kind, s.shape) for s in stages), selected, mosaic,
                       tuple(prediction.top), tuple(prediction.prepared.steps), tuple(prediction.notes), forward_ms,
                       spec_of(model).name, prediction.prepared.empty)


def _default_stage(stages: list) -> str:
    return next((s.name for s in stages if s.kind == "conv"), stages[0].name)
