"""A network that lives in the user's Python session (``cnnviz.view(model)``), made ready for the app.

The app works on a deep copy, taken when the model is handed over: the caller's module, its weights,
its device and its training flag are never touched, so a training loop can hand its model over every
few hundred steps and go on training the original.
"""

from __future__ import annotations

import copy as copying
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from torch import nn

from cnnviz.core.errors import ModelError
from cnnviz.core.models.user_specs import user_spec, with_overrides
from cnnviz.core.models.weight_files import short_error

#: The name the app shows for a model handed over from Python.
LIVE_PREFIX = "python:"


def live_name(module: nn.Module) -> str:
    return f"{LIVE_PREFIX}{type(module).__name__}"


def is_live_name(name: str) -> bool:
    return name.startswith(LIVE_PREFIX)


def copy_for_viewing(module: nn.Module) -> nn.Module:
    """A copy of ``module`` on the CPU in eval mode: taken when the caller hands it over (its training
    goes on with the original), cheap next to what making it ready costs (that runs on the worker)."""
    if not isinstance(module, nn.Module):
        raise ModelError(f"cnnviz.view takes a torch.nn.Module, not a {type(module).__name__}.")
    try:
        twin = copying.deepcopy(module).cpu()
    except Exception as exc:  # noqa: BLE001 - a module holding something that cannot be copied
        raise ModelError(f"{type(module).__name__} cannot be copied for viewing ({short_error(exc)}); "
                         f"save its state_dict and open it with its code instead.") from None
    return twin.eval()


def live_model(module: nn.Module, *, input_shape: tuple[int, int, int] | None = None,
               class_names: Sequence[str] | None = None, mean: Sequence[float] | None = None,
               std: Sequence[float] | None = None, preprocess: str | None = None, copy: bool = True) -> nn.Module:
    """``module`` ready for the app, with its spec at ``cnnviz_spec``: the input shape from ``input_shape``
    or what the module says (else a guess, noted), class names, mean and std as given. ``copy`` False for a
    module that is already :func:`copy_for_viewing`'s copy (its spec runs a forward pass: on the worker)."""
    twin = copy_for_viewing(module) if copy else module
    name = type(module).__name__
    spec = user_spec(twin, Path(name), "a model from Python", input_shape=input_shape)
    notes = tuple(n.replace("--input-shape C,H,W", "input_shape=(C, H, W)") for n in spec.notes
                  if "was loaded as code" not in n)  # (said in the words of the Python call)
    spec = replace(spec, weights=f"{LIVE_PREFIX}{name}", family="python", notes=notes)
    spec = with_overrides(spec, mean=tuple(mean) if mean is not None else None,
                          std=tuple(std) if std is not None else None, preprocess=preprocess)
    if class_names is not None:
        names = tuple(str(c) for c in class_names)
        if len(names) != len(spec.class_names):
            raise ModelError(f"class_names has {len(names)} names but {name} gives {len(spec.class_names)} scores.")
        spec = replace(spec, class_names=names)
    twin.cnnviz_spec = spec  # type: ignore[assignment]  # torch types Module attributes as Tensor | Module
    return twin
