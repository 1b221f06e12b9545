"""How far each stage moved between two runs of one model on one input (an edited filter, two inputs)."""

from __future__ import annotations

from dataclasses import dataclass

from cnnviz.core.engine.capture import Capture


@dataclass(frozen=True)
class StageChange:
    name: str
    mean_abs_change: float
    relative: float  # mean |change| / mean |original|


def stage_changes(before: Capture, after: Capture) -> list[StageChange]:
    """How much each stage's output moved between two captures of the same model and input."""
    changes = []
    for a, b in zip(before.stages, after.stages, strict=False):
        if a.name != b.name or a.output.shape != b.output.shape:
            continue
        delta = float((b.output.float() - a.output.float()).abs().mean())
        scale = float(a.output.float().abs().mean()) or 1.0
        changes.append(StageChange(a.name, delta, delta / scale))
    return changes
