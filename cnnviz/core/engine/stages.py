"""What a model's stages are, independent of the input's values: their infos, the block a stage belongs
to, the conv -> norm -> ReLU -> pool chain of a block, and the stage shown first."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from cnnviz.core.engine.capture import Stage
from cnnviz.core.engine.receptive import Field, receptive_fields


@dataclass(frozen=True)
class StageInfo:
    name: str
    kind: str
    shape: tuple[int, ...]
    params: int
    group: str  # the block it belongs to ('' for top-level stages)
    target: str = ""  # module path (for module stages) or the function's name


def group_of(name: str) -> str:
    """'layer1.0.conv1' -> 'layer1.0'; top-level stages ('conv1') -> ''."""
    return name.rpartition(".")[0]


def default_stage(stages: Sequence[Stage] | Sequence[StageInfo]) -> str:
    """The stage a new model opens on (and any view that is given no stage): the first conv."""
    return next((s.name for s in stages if s.kind == "conv"), stages[0].name)


_STRUCTURE_CACHE: dict[tuple, tuple[tuple[StageInfo, ...], dict[str, Field | None]]] = {}


def structure(stages: Sequence[Stage]) -> tuple[tuple[StageInfo, ...], dict[str, Field | None]]:
    """Stage infos and receptive fields depend on the model and the input size only: worked out once
    per model instead of on every frame (together ~2 ms a frame for ResNet-18 here)."""
    key = tuple((s.name, s.kind, tuple(s.output.shape), id(s.module), s.inputs) for s in stages)
    cached = _STRUCTURE_CACHE.get(key)
    if cached is None:
        if len(_STRUCTURE_CACHE) > 8:
            _STRUCTURE_CACHE.clear()
        infos = tuple(StageInfo(s.name, s.kind, s.shape, _params(s), group_of(s.name), s.target) for s in stages)
        cached = _STRUCTURE_CACHE[key] = (infos, receptive_fields(list(stages)))
    return cached


def _params(stage: Stage) -> int:
    if stage.module is None:
        return 0
    return sum(p.numel() for p in stage.module.parameters(recurse=False))


_FOLLOW = ("norm", "relu", "activation", "pool")


def block_chain(stages: Sequence[Stage], name: str) -> list[str]:
    """The conv of ``name``'s block and the stages that follow it one by one (norm, ReLU, pool)."""
    by_name = {s.name: s for s in stages}
    current = by_name[name]
    while current.kind in _FOLLOW and len(current.inputs) == 1 and current.inputs[0] in by_name:
        current = by_name[current.inputs[0]]
    if current.kind != "conv":
        return [name]
    chain = [current.name]
    for _ in range(4):
        nxt = next((s for s in stages if s.inputs == (chain[-1],) and s.kind in _FOLLOW), None)
        if nxt is None:
            break
        chain.append(nxt.name)
    return chain
