"""One frozen description of what the user is looking at, and every request made from it.

Widgets never build a request from other widgets: they tell the controller what the user wants,
the controller makes a new ViewState, and frames, lab runs and session files are all made from
that state (and the input picture of its source) by the functions here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from cnnviz.core.choices import INPUT_SOURCES, VIEWS
from cnnviz.core.engine.frame import FrameRequest
from cnnviz.core.lab.kernel_lab import LabRequest
from cnnviz.core.lab.kernels import EDGE4_BANK, Kernel, preset
from cnnviz.core.models.options import ModelOptions
from cnnviz.core.teach.session import Session
from cnnviz.qt.settings import MAGNITUDE_MAPS


def _edge_bank() -> tuple[Kernel, ...]:
    return tuple(preset(name) for name in EDGE4_BANK)


@dataclass(frozen=True)
class LabOptions:
    """The kernel lab: the bank of kernels and how the pipeline runs them."""

    bank: tuple[Kernel, ...] = field(default_factory=_edge_bank)
    padding: str = "same"
    stride: int = 1
    pool: int = 2
    pool_kind: str = "max"


@dataclass(frozen=True)
class ExplainOptions:
    method: str = "gradcam"
    target: int | None = None  # a class index, or None for the predicted class
    layer: str | None = None  # None: the last spatial layer


@dataclass(frozen=True)
class ViewState:
    model: str
    device: str = "auto"
    untrained: bool = False
    source: str = "draw"  # one of INPUT_SOURCES
    stage: str | None = None  # None: the model's default stage
    channel: int = 0  # the channel followed through its block
    in_channel: int | None = None  # the filters' input channel (None: mean / RGB)
    per_channel: bool = True
    top_k: int = 5
    magnitude_map: str = "viridis"
    occlusion: tuple[int, int, int] | None = None
    view: str = "network"  # one of VIEWS
    frozen: bool = False
    presenter: bool = False
    lab: LabOptions = field(default_factory=LabOptions)
    explain: ExplainOptions = field(default_factory=ExplainOptions)
    compare_mode: str = "inputs"  # one of cnnviz.core.teach.compare.MODES
    model_options: ModelOptions = field(default_factory=ModelOptions)  # a user's network: weights, shape, ...

    def __post_init__(self) -> None:
        if self.source not in INPUT_SOURCES:
            raise ValueError(f"unknown input source {self.source!r}")
        if self.view not in VIEWS:
            raise ValueError(f"unknown view {self.view!r}")


def frame_request(state: ViewState, rgb: np.ndarray, *, detail: bool, visible: frozenset[str] | None,
                  stamp: float, tensor: torch.Tensor | None = None) -> FrameRequest:
    """``tensor``: the exact model input ``rgb`` is the picture of (an adversarial input), else None."""
    return FrameRequest(rgb, state.stage, state.per_channel, state.top_k, state.channel, state.in_channel,
                        visible=visible if detail else None, detail=detail, occlusion=state.occlusion,
                        magnitude_map=state.magnitude_map, stamp=stamp, tensor=tensor)


def lab_request(state: ViewState, rgb: np.ndarray) -> LabRequest:
    lab = state.lab
    return LabRequest(rgb, lab.bank, lab.padding, lab.stride, lab.pool, lab.pool_kind)


def to_session(state: ViewState, rgb: np.ndarray | None) -> Session:
    lab = state.lab
    view = {"per_channel": state.per_channel, "top_k": state.top_k, "magnitude_map": state.magnitude_map,
            "explain_method": state.explain.method, "tab": state.view, "padding": lab.padding,
            "stride": lab.stride, "pool": lab.pool, "pool_kind": lab.pool_kind, "presenter": state.presenter}
    if state.model_options.to_json():
        view["model_options"] = state.model_options.to_json()
    return Session(state.model, state.device, state.untrained, state.source, rgb, state.stage, state.channel,
                   list(lab.bank), view)


def from_session(state: ViewState, session: Session) -> ViewState:
    """The state a session file describes, on top of ``state`` for whatever the file leaves out
    (values were checked when the file was parsed; unknown choices keep the current ones)."""
    view = session.view
    lab = state.lab

    def pick(key: str, kind: type, current: object, allowed: tuple | None = None) -> object:
        value = view.get(key)
        if not isinstance(value, kind) or (allowed is not None and value not in allowed):
            return current
        return value

    new_lab = LabOptions(tuple(session.kernels) if session.kernels else lab.bank,
                         str(pick("padding", str, lab.padding, ("same", "valid"))),
                         int(pick("stride", int, lab.stride)), int(pick("pool", int, lab.pool)),  # type: ignore[call-overload]
                         str(pick("pool_kind", str, lab.pool_kind, ("max", "avg"))))
    explain = ExplainOptions(str(pick("explain_method", str, state.explain.method)), state.explain.target,
                             state.explain.layer)
    source = session.source if session.source in INPUT_SOURCES else state.source
    return ViewState(session.model, session.device, session.untrained, source, session.stage,
                     max(0, session.channel), None, bool(pick("per_channel", bool, state.per_channel)),
                     int(pick("top_k", int, state.top_k)),  # type: ignore[call-overload]
                     str(pick("magnitude_map", str, state.magnitude_map, MAGNITUDE_MAPS)), None,
                     str(pick("tab", str, state.view, VIEWS)), False,
                     bool(pick("presenter", bool, state.presenter)), new_lab, explain, state.compare_mode,
                     model_options=ModelOptions.from_json(view.get("model_options")))
