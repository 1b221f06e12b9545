"""A per-stage table of a model (what torchsummary prints), computed from a real capture."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from cnnviz.core.engine.capture import capture


@dataclass(frozen=True)
class StageSummary:
    name: str
    kind: str
    input_shape: list[int]
    output_shape: list[int]
    params: int


@dataclass(frozen=True)
class Summary:
    stages: list[StageSummary]
    total_params: int
    trainable_params: int
    input_shape: list[int]

    def to_json(self) -> list[dict]:
        return [asdict(s) for s in self.stages]

    def format_table(self) -> str:
        lines = [f"{'stage':<28} {'kind':<10} {'output shape':<18} {'params':>12}", "-" * 71]
        lines.append(f"{'input':<28} {'':<10} {_shape(self.input_shape):<18} {'':>12}")
        for s in self.stages:
            lines.append(f"{s.name:<28} {s.kind:<10} {_shape(s.output_shape):<18} {s.params:>12,}")
        lines += ["-" * 71, f"Total params: {self.total_params:,}", f"Trainable params: {self.trainable_params:,}"]
        return "\n".join(lines)


def _shape(shape: list[int]) -> str:
    return "x".join(str(d) for d in shape) if shape else "-"


def summarize(model: nn.Module, input_shape: tuple[int, ...]) -> Summary:
    """Run a zero input of ``input_shape`` (C, H, W) through ``model`` and tabulate every stage."""
    param = next(model.parameters(), None)
    device = param.device if param is not None else torch.device("cpu")
    result = capture(model, torch.zeros((1, *input_shape), device=device))
    shapes = {"input": list(input_shape)}
    rows = []
    for stage in result:
        source = stage.inputs[0] if stage.inputs else "input"
        params = sum(p.numel() for p in stage.module.parameters(recurse=False)) if stage.module is not None else 0
        shapes[stage.name] = list(stage.shape)
        rows.append(StageSummary(stage.name, stage.kind, shapes.get(source, []), list(stage.shape), params))
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return Summary(rows, total, trainable, list(input_shape))
