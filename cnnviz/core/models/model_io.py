"""Loading models by name or from a file, without ever running code the user did not trust.

Plain weights (safetensors, or a state_dict read with ``torch.load(weights_only=True)``)
are data. A pickled whole module or a TorchScript archive is code: it is opened only
after an explicit, per-file trust step, and never as a silent retry of a refused load.
"""

from __future__ import annotations

import json
import os
import pickle
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, overload

import torch
from torch import nn

from cnnviz.core.assets import models_dir
from cnnviz.core.errors import ModelError, UntrustedFileError, WeightsUnavailableError
from cnnviz.core.fileio import quiet, regular_file
from cnnviz.core.models.device import resolve_device
from cnnviz.core.models.torchvision_weights import torchvision_cache_path as _cache_path
from cnnviz.core.models.torchvision_weights import torchvision_weights
from cnnviz.core.models.zoo import ModelSpec, build_architecture, get_spec, registry, spec_for_arch

STATE_DICT_KEYS = ("state_dict", "model_state_dict", "model", "net", "weights")
MAX_LISTED = 6
#: Refuse files larger than this before reading them: no CNN the app can show is bigger.
MAX_MODEL_BYTES = 4 * 1024**3
MODEL_SUFFIXES = ".safetensors, .pt or .pth"


def _model_file(path: Path) -> int:
    """The size of ``path`` once a stat shows it is a regular file (a pipe or a device would hang a reader)."""
    return regular_file(path, "model file", ModelError, MODEL_SUFFIXES).st_size


def load_model(name_or_path: str | os.PathLike[str], device: str | torch.device = "auto", *,
               arch: str | None = None, pretrained: bool | None = None, trust: bool = False,
               allow_download: bool = True) -> nn.Module:
    """A ready model in eval mode on ``device``, with its :class:`ModelSpec` at ``model.cnnviz_spec``.

    ``name_or_path`` is a zoo name or a file. ``pretrained=False`` gives random init for
    ImageNet families (the default asks for the real weights and says when they are missing).
    ``trust=True`` allows a pickled module or TorchScript file: only for files the user vouches for.
    """
    target = resolve_device(device)
    text = str(name_or_path)
    if text in registry():
        model, spec = _load_named(get_spec(text), pretrained=pretrained, allow_download=allow_download)
    else:
        path = Path(text).expanduser()
        if not path.exists():
            if path.suffix or os.sep in text:
                raise ModelError(f"Model file {path} does not exist.")
            get_spec(text)  # raises the 'no model called' message with suggestions
        model, spec = load_model_file(path, arch=arch, trust=trust)
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


def load_model_file(path: Path, *, arch: str | None = None, trust: bool = False) -> tuple[nn.Module, ModelSpec]:
    """Build a model from a user's file: safetensors, a state_dict checkpoint, or (trusted) code."""
    size = _model_file(path)
    if size == 0:
        raise ModelError(f"{path.name} is empty; it is not a model file.")
    if size > MAX_MODEL_BYTES:
        raise ModelError(f"{path.name} is {size / 1024**3:.1f} GB, larger than any model cnnviz can show.")
    if is_torchscript(path):
        if not trust:
            raise UntrustedFileError(
                f"{path.name} is a TorchScript archive: it contains code that would run on loading. "
                f"Open it only if you trust its source (--trust-file {path.name}).")
        try:
            with quiet():  # torch's FutureWarning that torch.jit.load is deprecated is not the user's business
                module = torch.jit.load(str(path), map_location="cpu")
        except Exception as exc:  # noqa: BLE001 - any failure of a foreign archive is a user error
            raise ModelError(f"{path.name} could not be read as TorchScript ({_short(exc)}).") from None
        return module, _code_spec(path, module, "TorchScript (trusted code)")
    state: dict[str, torch.Tensor] | nn.Module
    if path.suffix == ".safetensors":
        state, meta = read_safetensors(path)
    else:
        state, meta = read_checkpoint(path, trust=trust)
        if isinstance(state, nn.Module):
            return state, _code_spec(path, state, "pickled module (trusted code)")
    arch_name = arch or meta.get("arch") or meta.get("architecture")
    if not arch_name:
        raise ModelError(f"{path.name} does not say which architecture it is for; pass --arch NAME "
                         f"(one of the names in 'cnnviz models').")
    base = get_spec(arch_name) if arch_name in registry() else spec_for_arch(arch_name)
    in_channels, num_classes = _infer_io(state)
    model = build_architecture(base.arch, num_classes or len(base.class_names), in_channels or base.channels)
    load_state_dict_strict(model, state, path.name)
    spec = _spec_from_meta(base, meta, path, num_classes, in_channels)
    return model, spec.with_notes(*nonfinite_notes(state))


def _code_spec(path: Path, module: nn.Module, what: str) -> ModelSpec:
    base = spec_for_arch("lenet5")
    return ModelSpec(path.stem, "custom", base.input_shape, base.mean, base.std, base.class_names, "digit",
                     weights=f"file:{path}", family="file", description=f"{path.name}: {what}",
                     notes=(f"{path.name} was loaded as code because you trusted it.",))


def _spec_from_meta(base: ModelSpec, meta: Mapping[str, object], path: Path,
                    num_classes: int | None, in_channels: int | None) -> ModelSpec:
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


def _infer_io(state: Mapping[str, torch.Tensor]) -> tuple[int | None, int | None]:
    """Input channels from the first conv weight, classes from the last 2-D weight."""
    weights = [t for k, t in state.items() if k.endswith("weight") and isinstance(t, torch.Tensor)]
    in_channels = next((int(t.shape[1]) for t in weights if t.dim() == 4), None)
    num_classes = next((int(t.shape[0]) for t in reversed(weights) if t.dim() == 2), None)
    return in_channels, num_classes


def is_torchscript(path: Path) -> bool:
    """TorchScript archives are zip files with a ``code/`` folder (plain checkpoints have none)."""
    _model_file(path)
    if not zipfile.is_zipfile(path):
        return False
    try:
        with zipfile.ZipFile(path) as archive:
            return any("/code/" in name or name.endswith("constants.pkl") for name in archive.namelist())
    except (zipfile.BadZipFile, OSError):
        return False


def _check_container(path: Path) -> None:
    """Refuse what cannot be a checkpoint before torch sees it (a cut zip sends torch down a slow path)."""
    _model_file(path)
    with path.open("rb") as handle:
        head = handle.read(4)
    if head.startswith(b"PK"):
        if not zipfile.is_zipfile(path):
            raise ModelError(f"{path.name} is a truncated or damaged checkpoint (its zip directory is missing).")
    elif not head.startswith(b"\x80"):  # the legacy format starts with a pickle protocol byte
        raise ModelError(f"{path.name} is not a PyTorch checkpoint (it is neither a zip archive nor a pickle).")


@overload
def read_checkpoint(path: Path, trust: Literal[False] = False) -> tuple[dict[str, torch.Tensor], dict]: ...


@overload
def read_checkpoint(path: Path, trust: bool) -> tuple[dict[str, torch.Tensor] | nn.Module, dict]: ...


def read_checkpoint(path: Path, trust: bool = False) -> tuple[dict[str, torch.Tensor] | nn.Module, dict]:
    """Read a .pt/.pth file as weights only; a file that needs more is refused, never retried unsafely.

    Only ``trust=True`` can give a module (weights-only unpickling makes tensors and containers)."""
    _check_container(path)
    try:
        with quiet():  # e.g. "Detected pickle protocol 4", said just before the refusal below
            obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if not trust:
            raise UntrustedFileError(
                f"{path.name} holds pickled Python objects, not plain weights; loading it could run code "
                f"hidden in the file, so cnnviz refused. Open it only if you trust its source "
                f"(--trust-file {path.name}).") from None
        del exc
        obj = _load_trusted_pickle(path)
    except Exception as exc:  # noqa: BLE001 - zip/EOF/runtime errors all mean a damaged file
        raise ModelError(f"{path.name} is not a readable PyTorch checkpoint (truncated or corrupt: "
                         f"{_short(exc)}).") from None
    if isinstance(obj, nn.Module):
        return obj, {}
    return _unwrap_state_dict(obj, path)


def _load_trusted_pickle(path: Path) -> nn.Module:
    try:
        with quiet():
            obj = torch.load(str(path), map_location="cpu", weights_only=False)
    except Exception as exc:  # noqa: BLE001
        raise ModelError(f"{path.name} could not be unpickled ({_short(exc)}).") from None
    if not isinstance(obj, nn.Module):
        raise ModelError(f"{path.name} was unpickled but holds a {type(obj).__name__}, not a model.")
    return obj


def _unwrap_state_dict(obj: object, path: Path) -> tuple[dict[str, torch.Tensor], dict]:
    if not isinstance(obj, Mapping):
        raise ModelError(f"{path.name} holds a {type(obj).__name__}, not a state_dict of weights.")
    meta = {k: v for k, v in obj.items() if not isinstance(v, torch.Tensor | Mapping)}
    state: Mapping[Any, Any] = obj
    if not all(isinstance(v, torch.Tensor) for v in obj.values()):
        inner = next((obj[k] for k in STATE_DICT_KEYS if isinstance(obj.get(k), Mapping)), None)
        if inner is None:
            raise ModelError(f"{path.name} holds a dictionary without weights (looked for a state_dict "
                             f"under {', '.join(STATE_DICT_KEYS)}).")
        state = inner
    tensors = {str(k): v for k, v in state.items() if isinstance(v, torch.Tensor)}
    if not tensors:
        raise ModelError(f"{path.name} holds no weight tensors.")
    return strip_module_prefix(tensors), meta


def strip_module_prefix(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Undo DataParallel's rename (every key starting with ``module.``), the one rename we repair."""
    if state and all(k.startswith("module.") for k in state):
        return {k[len("module."):]: v for k, v in state.items()}
    return state


def read_safetensors(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Weights and string metadata from a safetensors file (no pickle involved)."""
    from safetensors import SafetensorError, safe_open

    _model_file(path)
    try:
        with safe_open(str(path), framework="pt", device="cpu") as handle:
            meta = dict(handle.metadata() or {})
            state = {key: handle.get_tensor(key) for key in handle.keys()}  # noqa: SIM118
    except (SafetensorError, OSError, ValueError) as exc:
        raise ModelError(f"{path.name} is not a valid safetensors file ({_short(exc)}).") from None
    if not state:
        raise ModelError(f"{path.name} holds no weight tensors.")
    return strip_module_prefix(state), meta


def load_state_dict_strict(model: nn.Module, state: Mapping[str, torch.Tensor], what: str) -> None:
    """Load all weights or none: every missing, unexpected or misshapen key is named by layer."""
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    misshapen = [f"{k} is {tuple(state[k].shape)} but the model needs {tuple(v.shape)}"
                 for k, v in expected.items() if k in state and tuple(state[k].shape) != tuple(v.shape)]
    problems = []
    if missing:
        problems.append("missing " + _listing(missing))
    if unexpected:
        problems.append("unexpected " + _listing(unexpected))
    if misshapen:
        problems.append(_listing(misshapen, sep="; "))
    if problems:
        arch = getattr(model, "cnnviz_arch", type(model).__name__)
        raise ModelError(f"{what} does not fit {arch}: " + "; ".join(problems) + ". Nothing was loaded.")
    model.load_state_dict(dict(state), strict=True)


def nonfinite_notes(state: Mapping[str, torch.Tensor]) -> list[str]:
    """A warning per tensor holding NaN or infinity: such a model loads, but is flagged."""
    notes = []
    for key, tensor in state.items():
        if tensor.is_floating_point():
            bad = int((~torch.isfinite(tensor)).sum())
            if bad:
                notes.append(f"{key} holds {bad} NaN/infinite value(s); outputs downstream will be meaningless.")
    return notes


def _listing(items: list[str], sep: str = ", ") -> str:
    shown = sep.join(items[:MAX_LISTED])
    return shown + (f"{sep}and {len(items) - MAX_LISTED} more" if len(items) > MAX_LISTED else "")


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:160]
