"""Loading models by name or from a file, without ever running code the user did not trust.

Plain weights (safetensors, or a state_dict read with ``torch.load(weights_only=True)``) and ONNX
files (operators and tensors, converted by onnx2torch) are data. A pickled whole module, a
TorchScript archive, a ``torch.export`` program (``.pt2``: its loader may unpickle) and Python code
(``net.py:Net``, ``package.module:make_net``) are code: each is opened only after an explicit trust
step, and never as a silent retry of a refused load. A network that is none of the zoo's gets its
spec from what it says (see :func:`user_spec`); TorchScript is converted to an fx graph (through
``torch.export``) so that every stage shows, and stays a script with input and output only where
torch cannot.

This module routes a name to its loader (the zoo, timm, code references, files); the files are read
by :mod:`cnnviz.core.models.weight_files` and the specs of users' models made by
:mod:`cnnviz.core.models.user_specs`. Their public names are importable from here as well.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

import torch
from torch import nn

from cnnviz.core.assets import models_dir
from cnnviz.core.errors import ModelError, UntrustedFileError, WeightsUnavailableError
from cnnviz.core.models.device import resolve_device
from cnnviz.core.models.exported import from_torchscript, load_exported
from cnnviz.core.models.onnx_models import is_onnx, load_onnx
from cnnviz.core.models.timm_models import is_timm_name, load_timm
from cnnviz.core.models.torchvision_weights import torchvision_cache_path as _cache_path
from cnnviz.core.models.torchvision_weights import torchvision_weights
from cnnviz.core.models.user_code import model_from_code, split_code_ref
from cnnviz.core.models.user_specs import (
    PREPROCESS_KINDS,
    card_beside,
    infer_io,
    shape3,
    spec_from_meta,
    user_spec,
    with_overrides,
)
from cnnviz.core.models.weight_files import (
    MAX_LISTED,
    MAX_MODEL_BYTES,
    MODEL_SUFFIXES,
    STATE_DICT_KEYS,
    is_exported,
    is_torchscript,
    load_state_dict_strict,
    load_torchscript,
    model_file_size,
    nonfinite_notes,
    read_checkpoint,
    read_safetensors,
    short_error,
    strip_module_prefix,
)
from cnnviz.core.models.zoo import ModelSpec, build_architecture, get_spec, registry, spec_for_arch

#: What other modules and tests import from here (the readers live in weight_files, the specs in user_specs).
__all__ = [
    "MAX_LISTED", "MAX_MODEL_BYTES", "MODEL_SUFFIXES", "PREPROCESS_KINDS", "STATE_DICT_KEYS", "is_exported",
    "is_torchscript", "load_model", "load_model_file", "load_state_dict_strict", "nonfinite_notes",
    "read_checkpoint", "read_safetensors", "strip_module_prefix", "torchvision_cache_path", "user_spec",
]

_CODE_ONLY_FOR_PICKLES = "--code goes with a pickled whole model (a .pt file saved with torch.save(model))."


def load_model(name_or_path: str | os.PathLike[str], device: str | torch.device = "auto", *,
               arch: str | None = None, pretrained: bool | None = None, trust: bool = False,
               allow_download: bool = True, weights: str | os.PathLike[str] | None = None,
               code: str | os.PathLike[str] | None = None, input_shape: tuple[int, int, int] | None = None,
               labels: str | os.PathLike[str] | None = None, mean: tuple[float, ...] | None = None,
               std: tuple[float, ...] | None = None, preprocess: str | None = None) -> nn.Module:
    """A ready model in eval mode on ``device``, with its :class:`ModelSpec` at ``model.cnnviz_spec``.

    ``name_or_path`` is a zoo name, a file, or code: ``net.py:Net`` / ``net.py:make_net`` /
    ``package.module:Name`` (a module class built with no arguments or a function returning a module;
    ``weights`` then names its state_dict file). ``pretrained=False`` gives random init for
    ImageNet families (the default asks for the real weights and says when they are missing).
    ``trust=True`` allows a pickled module, TorchScript file or Python code: only what the user vouches
    for; ``code`` is a Python file defining the classes a pickled whole module needs. ``input_shape``,
    ``labels`` (a file, one class name a line), ``mean``, ``std`` and ``preprocess`` override the spec.
    """
    target = resolve_device(device)
    text = str(name_or_path)
    named = text in registry() or is_timm_name(text)
    code_ref = split_code_ref(text) if not named and not Path(text).expanduser().exists() else None
    if weights is not None and code_ref is None:
        raise ModelError("--weights goes with a network given as code (FILE.py:NAME or package.module:NAME); "
                         "for a zoo architecture give the weights file as the model and --arch NAME.")
    if code is not None and (named or code_ref is not None):
        raise ModelError(_CODE_ONLY_FOR_PICKLES)
    if is_timm_name(text):
        model, spec = load_timm(text, pretrained=pretrained, allow_download=allow_download)
    elif text in registry():
        model, spec = _load_named(get_spec(text), pretrained=pretrained, allow_download=allow_download)
    elif code_ref is not None:
        model, spec = _load_code(text, trust=trust, weights=weights, input_shape=input_shape)
    else:
        path = Path(text).expanduser()
        if not path.exists():
            if path.suffix or os.sep in text:
                raise ModelError(f"Model file {path} does not exist.")
            get_spec(text)  # raises the 'no model called' message with suggestions
        model, spec = load_model_file(path, arch=arch, trust=trust, code=code, input_shape=input_shape)
    spec = with_overrides(spec, input_shape=input_shape, labels=labels, mean=mean, std=std,
                           preprocess=preprocess)
    model.eval()
    model.to(target)
    model.cnnviz_spec = spec  # type: ignore[assignment]  # torch types Module attributes as Tensor | Module
    return model


def _load_named(spec: ModelSpec, *, pretrained: bool | None, allow_download: bool) -> tuple[nn.Module, ModelSpec]:
    if spec.weights is None:
        return build_architecture(spec.arch, len(spec.class_names), spec.channels), spec
    kind, _, ref = spec.weights.partition(":")
    if kind == "asset":
        path = models_dir() / ref
        if not path.is_file():
            raise WeightsUnavailableError(
                f"The weights of {spec.name} ({path}) are missing from this installation; "
                f"reinstall cnnviz or train them with 'cnnviz train'.")
        state = read_safetensors(path)[0]
        model = build_architecture(spec.arch, len(spec.class_names), spec.channels)
        load_state_dict_strict(model, state, f"{spec.name} ({path.name})")
        return model, spec.with_notes(*nonfinite_notes(state))
    if kind == "torchvision":
        if pretrained is False:
            untrained = ModelSpec(**{**spec.__dict__, "weights": None,
                                     "description": spec.description + " (random init)"})
            return build_architecture(spec.arch, pretrained_layout=False), untrained
        state = _torchvision_state_dict(spec, allow_download)
        model = build_architecture(spec.arch, pretrained_layout=True)
        load_state_dict_strict(model, state, f"{spec.name} ImageNet weights")
        if spec.arch == "googlenet":  # as torchvision does: the auxiliary heads only help training
            model.aux_logits, model.aux1, model.aux2 = False, None, None  # type: ignore[assignment]
        return model, spec
    raise ModelError(f"The zoo entry {spec.name} names weights '{spec.weights}' that cnnviz cannot read.")


def torchvision_cache_path(spec: ModelSpec) -> Path:
    """Where torch's hub cache keeps (or would keep) the ImageNet weights of ``spec``."""
    return _cache_path(spec.arch, spec.weights)


def _torchvision_state_dict(spec: ModelSpec, allow_download: bool) -> dict[str, torch.Tensor]:
    """Read cached ImageNet weights, downloading them (with a progress bar) when online."""
    weights = torchvision_weights(spec.arch, spec.weights or "")
    path = torchvision_cache_path(spec)
    if not path.is_file():
        offline = os.environ.get("CNNVIZ_OFFLINE", "") not in ("", "0")
        if not allow_download or offline:
            raise WeightsUnavailableError(_missing_weights_message(spec, path))
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(path.suffix + ".part")
        try:
            torch.hub.download_url_to_file(weights.url, str(partial), progress=True)
            partial.replace(path)
        except (OSError, ValueError) as exc:  # URLError is an OSError
            partial.unlink(missing_ok=True)
            raise WeightsUnavailableError(_missing_weights_message(spec, path, exc)) from None
    state, _meta = read_checkpoint(path)
    return state


def _missing_weights_message(spec: ModelSpec, path: Path, exc: Exception | None = None) -> str:
    why = "could not be downloaded (this machine looks offline)" if exc else "are not in the torch cache"
    return (f"The ImageNet weights of {spec.name} {why}: expected {path}. Copy the file there, "
            f"or use --untrained to explore {spec.name} with random weights.")


def load_model_file(path: Path, *, arch: str | None = None, trust: bool = False,
                    code: str | os.PathLike[str] | None = None,
                    input_shape: tuple[int, int, int] | None = None) -> tuple[nn.Module, ModelSpec]:
    """Build a model from a user's file: safetensors, a state_dict checkpoint, or (trusted) code.

    ``code`` is the Python file that defines the classes of a pickled whole module."""
    size = model_file_size(path)
    if size == 0:
        raise ModelError(f"{path.name} is empty; it is not a model file.")
    if size > MAX_MODEL_BYTES:
        raise ModelError(f"{path.name} is {size / 1024**3:.1f} GB, larger than any model cnnviz can show.")
    if code is not None and (is_torchscript(path) or is_exported(path) or is_onnx(path)
                             or path.suffix == ".safetensors"):
        raise ModelError(_CODE_ONLY_FOR_PICKLES)
    if is_onnx(path):  # operators and tensors: data, read without a trust step
        module, stated = load_onnx(path)
        return module, user_spec(module, path, "ONNX graph (converted by onnx2torch)",
                                 input_shape=input_shape or stated, card=card_beside(path))
    if is_exported(path):
        if not trust:
            raise UntrustedFileError(
                f"{path.name} is a torch.export program: loading it can unpickle objects stored in it, which "
                f"can run code. Open it only if you trust its source (--trust-file {path.name}).")
        module, shape = load_exported(path)
        return module, user_spec(module, path, "torch.export program (trusted)",
                                 input_shape=input_shape or shape3(list(shape or ())), card=card_beside(path))
    if is_torchscript(path):
        if not trust:
            raise UntrustedFileError(
                f"{path.name} is a TorchScript archive: it contains code that would run on loading. "
                f"Open it only if you trust its source (--trust-file {path.name}).")
        module = load_torchscript(path)
        spec = user_spec(module, path, "TorchScript (trusted code)", input_shape=input_shape, card=card_beside(path))
        try:
            with warnings.catch_warnings():  # not quiet(): its lock would hold every other reader up this long
                warnings.simplefilter("ignore")
                converted = from_torchscript(module, spec.input_shape)
                with torch.no_grad():
                    same = _same_output(module, converted, spec.input_shape)
        except Exception as exc:  # noqa: BLE001 - the script stays as it is, with fewer stages shown
            return module, spec.with_notes(f"Only the input and the output of this TorchScript model can be shown "
                                           f"(torch could not convert it: {short_error(exc)}).")
        if not same:
            return module, spec.with_notes("Only the input and the output of this TorchScript model can be shown "
                                           "(its conversion did not compute the same outputs).")
        return converted, spec
    state: dict[str, torch.Tensor] | nn.Module
    if path.suffix == ".safetensors":
        state, meta = read_safetensors(path)
    else:
        if code is not None and not trust:
            raise UntrustedFileError(f"Importing {Path(code).name} runs its code; open it only if you trust its "
                                     f"source (--trust-file).")
        state, meta = read_checkpoint(path, trust=trust, code=code)
        if isinstance(state, nn.Module):
            return state, user_spec(state, path, "pickled module (trusted code)", input_shape=input_shape,
                                    module=meta.get("code"), card=card_beside(path))
        if code is not None:
            raise ModelError(_CODE_ONLY_FOR_PICKLES)
    arch_name = arch or meta.get("arch") or meta.get("architecture")
    if not arch_name:
        raise ModelError(f"{path.name} does not say which architecture it is for; pass --arch NAME "
                         f"(one of the names in 'cnnviz models').")
    base = get_spec(arch_name) if arch_name in registry() else spec_for_arch(arch_name)
    in_channels, num_classes = infer_io(state)
    model = build_architecture(base.arch, num_classes or len(base.class_names), in_channels or base.channels)
    load_state_dict_strict(model, state, path.name)
    spec = spec_from_meta(base, meta, path, num_classes, in_channels)
    return model, spec.with_notes(*nonfinite_notes(state))


def _load_code(ref: str, *, trust: bool, weights: str | os.PathLike[str] | None,
               input_shape: tuple[int, int, int] | None) -> tuple[nn.Module, ModelSpec]:
    """A network built by the user's code, with its weights (when given) loaded strictly."""
    if not trust:
        raise UntrustedFileError(f"{ref} is Python code: importing it runs it. Open it only if you trust its "
                                 f"source (--trust-file).")
    model, module, file = model_from_code(ref)
    name = ref.rpartition(":")[2]
    card: Mapping[str, object] = {}
    what = "Python code (trusted)"
    if weights is not None:
        wpath = Path(weights).expanduser()
        if wpath.suffix == ".safetensors":
            state, meta = read_safetensors(wpath)
        else:
            state, meta = read_checkpoint(wpath)
        load_state_dict_strict(model, state, wpath.name)
        card = {**card_beside(wpath), **meta}
        what += f" with weights from {wpath.name}"
        notes = nonfinite_notes(state)
    else:
        notes = [f"{name} has the random weights its code gave it (--weights FILE loads trained ones)."]
    if file is not None:
        card = {**card_beside(file), **card}
    spec = user_spec(model, Path(name), what, input_shape=input_shape, module=module, card=card)
    return model, replace(spec, weights=f"code:{ref}").with_notes(*notes)


def _same_output(a: nn.Module, b: nn.Module, shape: tuple[int, int, int]) -> bool:
    x = torch.rand((1, *shape), generator=torch.Generator().manual_seed(0))
    out_a, out_b = a(x), b(x)
    return isinstance(out_a, torch.Tensor) and isinstance(out_b, torch.Tensor) and out_a.shape == out_b.shape \
        and torch.allclose(out_a, out_b, atol=1e-4, rtol=1e-4)
