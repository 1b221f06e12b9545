"""Receptive fields: which input pixels a feature-map pixel can see, for any captured model.

Each stage is described by (size, jump, start) per axis in model-input pixels, combined
along the graph the capture recorded: convs and pools grow the field, elementwise stages
(ReLU, BatchNorm, add...) keep it, and a stage with several inputs takes their envelope.
Stages after a global pool, flatten or linear layer see the whole input (``None``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from torch import nn

from cnnviz.core.engine.capture import Stage


@dataclass(frozen=True)
class Field:
    """Per axis (y, x): field size, distance between neighbouring outputs, centre of output 0."""

    size: tuple[float, float]
    jump: tuple[float, float]
    start: tuple[float, float]

    def rect(self, y: int, x: int, height: int, width: int) -> tuple[int, int, int, int]:
        """(top, left, bottom, right) inclusive, clipped to an input of ``height`` x ``width``."""
        cy = self.start[0] + y * self.jump[0]
        cx = self.start[1] + x * self.jump[1]
        top = int(round(cy - (self.size[0] - 1) / 2))
        left = int(round(cx - (self.size[1] - 1) / 2))
        bottom = top + int(self.size[0]) - 1
        right = left + int(self.size[1]) - 1
        return max(0, top), max(0, left), min(height - 1, bottom), min(width - 1, right)


INPUT_FIELD = Field((1.0, 1.0), (1.0, 1.0), (0.0, 0.0))


def _pair(value: int | tuple[int, ...]) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else (int(value[0]), int(value[-1]))


def _window(module: nn.Module) -> tuple[tuple[int, int], tuple[int, int], tuple[int, int], tuple[int, int]] | None:
    """(kernel, stride, padding, dilation) of a sliding-window module, else None."""
    if isinstance(module, nn.modules.conv._ConvNd) and module.weight.dim() == 4:
        padding = module.padding if not isinstance(module.padding, str) else (
            (0, 0) if module.padding == "valid" else tuple((k - 1) // 2 for k in module.kernel_size))
        return _pair(module.kernel_size), _pair(module.stride), _pair(padding), _pair(module.dilation)
    if isinstance(module, nn.MaxPool2d | nn.AvgPool2d):
        dilation = getattr(module, "dilation", 1)
        stride = module.stride if module.stride is not None else module.kernel_size
        return _pair(module.kernel_size), _pair(stride), _pair(module.padding), _pair(dilation)
    return None


def _axes(value: Callable[[int], float]) -> tuple[float, float]:
    """(y, x) of a per-axis formula."""
    return value(0), value(1)


def _grow(field: Field, window: tuple) -> Field:
    kernel, stride, padding, dilation = window
    size = _axes(lambda a: field.size[a] + (kernel[a] - 1) * dilation[a] * field.jump[a])
    start = _axes(lambda a: field.start[a] + ((kernel[a] - 1) / 2 * dilation[a] - padding[a]) * field.jump[a])
    jump = _axes(lambda a: field.jump[a] * stride[a])
    return Field(size, jump, start)


def _envelope(fields: list[Field]) -> Field:
    if len(fields) == 1:
        return fields[0]
    size = _axes(lambda a: max(f.size[a] for f in fields))
    jump = _axes(lambda a: max(f.jump[a] for f in fields))
    start = _axes(lambda a: sum(f.start[a] for f in fields) / len(fields))
    return Field(size, jump, start)


_WHOLE_KINDS = {"linear", "flatten", "softmax", "reshape"}


def receptive_fields(stages: Sequence[Stage]) -> dict[str, Field | None]:
    """The field of every stage (None: it sees the whole input)."""
    fields: dict[str, Field | None] = {"input": INPUT_FIELD}
    for stage in stages:
        sources = [fields.get(name, INPUT_FIELD) for name in (stage.inputs or ("input",))]
        if any(s is None for s in sources) or stage.kind in _WHOLE_KINDS or stage.output.dim() != 4:
            fields[stage.name] = None
            continue
        field = _envelope([s for s in sources if s is not None])
        if isinstance(stage.module, nn.AdaptiveAvgPool2d | nn.AdaptiveMaxPool2d) or stage.target in (
                "adaptive_avg_pool2d", "mean"):
            fields[stage.name] = None
            continue
        window = _window(stage.module) if stage.module is not None else None
        fields[stage.name] = _grow(field, window) if window else field
    fields.pop("input")
    return fields
