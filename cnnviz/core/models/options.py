"""How to open a model beyond its name: what the command line's flags, the app's Open dialog and a
session file say about a user's network (weights, code, input shape, labels, normalisation). One
frozen record, so the three carry the same thing and a request can cross threads."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any


@dataclass(frozen=True)
class ModelOptions:
    weights: str | None = None
    code: str | None = None
    input_shape: tuple[int, int, int] | None = None
    labels: str | None = None
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    preprocess: str | None = None

    def kwargs(self) -> dict[str, Any]:
        """The keyword arguments of :func:`cnnviz.core.models.model_io.load_model`."""
        return asdict(self)

    def to_json(self) -> dict[str, Any]:
        """Only what was said (a session of a zoo model stays as it was)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items() if v is not None}

    @classmethod
    def from_json(cls, data: object) -> ModelOptions:
        """Options from a session file's (untrusted) JSON: unknown keys and wrong types are left out."""
        if not isinstance(data, dict):
            return cls()
        kept: dict[str, Any] = {}
        for f in fields(cls):
            value = data.get(f.name)
            if isinstance(value, str) and f.name in ("weights", "code", "labels", "preprocess"):
                kept[f.name] = value
            elif f.name == "input_shape" and isinstance(value, list) and len(value) == 3 \
                    and all(isinstance(v, int) and 0 < v <= 4096 for v in value):
                kept[f.name] = tuple(value)
            elif f.name in ("mean", "std") and isinstance(value, list) and 0 < len(value) <= 4 \
                    and all(isinstance(v, int | float) for v in value):
                kept[f.name] = tuple(float(v) for v in value)
        return cls(**kept)

    @classmethod
    def of(cls, source: object) -> ModelOptions:
        """The options an argparse namespace (or any object with those attributes) carries."""
        return cls(**{f.name: getattr(source, f.name, None) for f in fields(cls)})
