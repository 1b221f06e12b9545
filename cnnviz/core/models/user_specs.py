"""The :class:`ModelSpec` of a user's model: what its file, code, card and outputs say, and what the user said.

A network that is none of the zoo's gets its input shape, classes and preparation from itself, its code
or the model card beside it (:func:`user_spec`); a state_dict for a zoo architecture gets its spec from
the checkpoint's metadata and weight shapes (:func:`spec_from_meta`, :func:`infer_io`); and
:func:`with_overrides` applies ``--input-shape``, ``--labels``, ``--mean``, ``--std`` and
``--preprocess``, each checked against the model.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

import torch
from torch import nn

from cnnviz.core.errors import ModelError
from cnnviz.core.fileio import regular_file
from cnnviz.core.models.weight_files import short_error
from cnnviz.core.models.zoo import IMAGENET_MEAN, IMAGENET_STD, MNIST_MEAN, MNIST_STD, ModelSpec

PREPROCESS_KINDS = ("digit", "resize", "imagenet", "fashion")


def card_beside(path: Path) -> dict[str, object]:
    """The model card JSON beside ``path`` (``net.json`` for ``net.py``), or nothing."""
    card = path.with_suffix(".json")
    try:
        if card.is_file() and card.stat().st_size < 16 * 1024**2:
            value = json.loads(card.read_text(encoding="utf-8"))
            return value if isinstance(value, dict) else {}
    except (OSError, ValueError, RecursionError):
        pass
    return {}


def _first_conv_channels(model: nn.Module) -> int | None:
    """The input channels of the first convolution (a TorchScript one too: it is known by its original name)."""
    for module in model.modules():
        if isinstance(module, nn.modules.conv._ConvNd):
            return int(module.in_channels)
        weight = getattr(module, "weight", None)
        if getattr(module, "original_name", "").startswith("Conv") and isinstance(weight, torch.Tensor) \
                and weight.dim() >= 3:
            return int(weight.shape[1]) * int(getattr(module, "groups", 1))
    return None


def shape3(value: object) -> tuple[int, int, int] | None:
    """``value`` as an input shape C,H,W when it is three sizes from 1 to 4096, else None."""
    if isinstance(value, list | tuple) and len(value) == 3 and all(isinstance(v, int) and 0 < v <= 4096
                                                                  for v in value):
        return (int(value[0]), int(value[1]), int(value[2]))
    return None


def user_spec(model: nn.Module, path: Path, what: str, *, input_shape: tuple[int, int, int] | None = None,
              module: object = None, card: Mapping[str, object] | None = None) -> ModelSpec:
    """The spec of a network that is none of the zoo's: shape, classes and preparation from what it says.

    The input shape is ``input_shape``, else the model's or its code's ``input_shape`` / ``INPUT_SHAPE``,
    else the card's, else the first conv's channels at 28x28 (one channel) or 224x224; the number of classes
    is the width of the output to a zero input. Grey models get digit preparation, colour ones ImageNet's."""
    card = card or {}
    notes = [f"{path.name} was loaded as code because you trusted it."]
    shape = (input_shape or shape3(getattr(model, "input_shape", None))
             or shape3(getattr(module, "INPUT_SHAPE", None)) or shape3(card.get("input_shape")))
    if shape is None:
        channels = _first_conv_channels(model) or 3
        side = 28 if channels == 1 else 224
        shape = (channels, side, side)
        notes.append(f"The input size {side}x{side} is a guess; --input-shape C,H,W gives the one it was made for.")
    classes = _output_width(model, shape, path.name)
    grey = shape[0] == 1
    mean = MNIST_MEAN if grey else IMAGENET_MEAN if shape[0] == 3 else (0.5,)
    std = MNIST_STD if grey else IMAGENET_STD if shape[0] == 3 else (0.5,)
    prep = card.get("preprocess")
    spec = ModelSpec(path.stem, "custom", shape, mean * (shape[0] if len(mean) == 1 else 1),
                     std * (shape[0] if len(std) == 1 else 1), tuple(f"class {i}" for i in range(classes)),
                     prep if isinstance(prep, str) and prep in PREPROCESS_KINDS else "digit" if grey else "imagenet",
                     weights=f"file:{path}", family="file", description=f"{path.name}: {what}", notes=tuple(notes))
    names = card.get("class_names")
    if isinstance(names, list) and len(names) == classes:
        spec = replace(spec, class_names=tuple(str(c) for c in names))
    card_mean, card_std = _floats(card.get("mean"), ()), _floats(card.get("std"), ())
    if len(card_mean) in (1, shape[0]) and len(card_std) in (1, shape[0]):
        spec = with_overrides(spec, mean=card_mean, std=card_std)
    return spec


def _output_width(model: nn.Module, shape: tuple[int, int, int], name: str) -> int:
    """How many class scores ``model`` gives for a zero input of ``shape`` (its output's last width)."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            out = model(torch.zeros((1, *shape)))
    except Exception as exc:  # noqa: BLE001 - the user's forward refusing the shape is the user's to fix
        shown = ",".join(map(str, shape))
        raise ModelError(f"{name} raised {type(exc).__name__} on an input of shape {shown} ({short_error(exc)}); "
                         f"give the shape it takes with --input-shape C,H,W.") from None
    finally:
        model.train(was_training)
    if isinstance(out, tuple | list) and out:
        out = out[0]
    if not isinstance(out, torch.Tensor) or out.dim() < 1:
        raise ModelError(f"{name} returns a {type(out).__name__}, not a tensor of class scores.")
    return int(out.shape[-1])


def with_overrides(spec: ModelSpec, *, input_shape: tuple[int, int, int] | None = None,
                    labels: str | os.PathLike[str] | None = None, mean: tuple[float, ...] | None = None,
                    std: tuple[float, ...] | None = None, preprocess: str | None = None) -> ModelSpec:
    """``spec`` with what the user said on the command line (each checked against the model)."""
    if input_shape is not None and tuple(input_shape) != spec.input_shape:
        if input_shape[0] != spec.channels and (mean is None or std is None):
            mean = mean or (sum(spec.mean) / len(spec.mean),)
            std = std or (sum(spec.std) / len(spec.std),)
        spec = replace(spec, input_shape=tuple(input_shape))  # type: ignore[arg-type]
    channels = spec.channels
    for what, values in (("--mean", mean), ("--std", std)):
        if values is not None and len(values) not in (1, channels):
            raise ModelError(f"{what} has {len(values)} values but the model takes {channels} channel(s).")
    if std is not None and any(v <= 0 for v in std):
        raise ModelError("--std values must be above 0.")
    if mean is not None:
        spec = replace(spec, mean=tuple(mean) * (channels if len(mean) == 1 else 1))
    if std is not None:
        spec = replace(spec, std=tuple(std) * (channels if len(std) == 1 else 1))
    if len(spec.mean) != channels:
        spec = replace(spec, mean=(sum(spec.mean) / len(spec.mean),) * channels,
                       std=(sum(spec.std) / len(spec.std),) * channels)
    if preprocess is not None:
        if preprocess not in PREPROCESS_KINDS:
            raise ModelError(f"--preprocess is one of {', '.join(PREPROCESS_KINDS)}, not '{preprocess}'.")
        spec = replace(spec, preprocess=preprocess)
    if labels is not None:
        path = Path(labels).expanduser()
        regular_file(path, "labels file", ModelError, "one class name a line")
        if path.stat().st_size > 16 * 1024**2:
            raise ModelError(f"{path.name} is too large to be a list of class names.")
        try:
            names = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        except (OSError, UnicodeDecodeError) as exc:
            raise ModelError(f"{path.name} cannot be read as text ({short_error(exc)}).") from None
        if len(names) != len(spec.class_names):
            raise ModelError(f"{path.name} names {len(names)} classes but the model gives "
                             f"{len(spec.class_names)} scores.")
        spec = replace(spec, class_names=tuple(names))
    return spec


def spec_from_meta(base: ModelSpec, meta: Mapping[str, object], path: Path,
                    num_classes: int | None, in_channels: int | None) -> ModelSpec:
    """The spec of ``base``'s architecture read from ``path``: classes, mean and std from its metadata."""
    classes = meta.get("class_names")
    if isinstance(classes, str):
        try:
            classes = json.loads(classes)
        except (ValueError, RecursionError):  # metadata is the file's word: a broken one is ignored
            classes = None
    n = num_classes or len(base.class_names)
    if not (isinstance(classes, list) and len(classes) == n):
        classes = list(base.class_names) if len(base.class_names) == n else [f"class {i}" for i in range(n)]
    shape = list(base.input_shape)
    if in_channels:
        shape[0] = in_channels
    mean, std = _floats(meta.get("mean"), base.mean), _floats(meta.get("std"), base.std)
    if len(mean) != shape[0]:
        mean, std = (sum(mean) / len(mean),) * shape[0], (sum(std) / len(std),) * shape[0]
    return ModelSpec(path.stem, base.arch, (shape[0], shape[1], shape[2]), mean, std,
                     tuple(str(c) for c in classes), base.preprocess, weights=f"file:{path}", family="file",
                     description=f"{base.arch} from {path.name}")


def _floats(value: object, default: tuple[float, ...]) -> tuple[float, ...]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except (ValueError, RecursionError):
            return default
    if isinstance(value, list | tuple) and value and all(isinstance(v, int | float) for v in value):
        return tuple(float(v) for v in value)
    return default


def infer_io(state: Mapping[str, torch.Tensor]) -> tuple[int | None, int | None]:
    """Input channels from the first conv weight, classes from the last 2-D weight."""
    weights = [t for k, t in state.items() if k.endswith("weight") and isinstance(t, torch.Tensor)]
    in_channels = next((int(t.shape[1]) for t in weights if t.dim() == 4), None)
    num_classes = next((int(t.shape[0]) for t in reversed(weights) if t.dim() == 2), None)
    return in_channels, num_classes
