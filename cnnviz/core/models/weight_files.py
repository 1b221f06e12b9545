"""Reading checkpoint and weight files safely: data is read as data, code only when trusted.

Plain weights (safetensors, or a state_dict read with ``torch.load(weights_only=True)``) are data.
A pickled whole module and a TorchScript archive are code: :func:`read_checkpoint` refuses the first
unless trusted (and never retries a refused load unsafely), and :func:`load_torchscript` is only called
once the user has vouched for the file. Every reader stats the path first (a pipe or a device would hang
it) and says what is wrong in one sentence.
"""

from __future__ import annotations

import os
import pickle
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, overload

import torch
from torch import nn

from cnnviz.core.errors import ModelError, UntrustedFileError
from cnnviz.core.fileio import quiet, regular_file
from cnnviz.core.models.user_code import MissingClassError, code_pickle_module, import_file

STATE_DICT_KEYS = ("state_dict", "model_state_dict", "model", "net", "weights")
MAX_LISTED = 6
#: Refuse files larger than this before reading them: no CNN the app can show is bigger.
MAX_MODEL_BYTES = 4 * 1024**3
MODEL_SUFFIXES = ".safetensors, .pt, .pth, .pt2 or .onnx"


def model_file_size(path: Path) -> int:
    """The size of ``path`` once a stat shows it is a regular file (a pipe or a device would hang a reader)."""
    return regular_file(path, "model file", ModelError, MODEL_SUFFIXES).st_size


def is_exported(path: Path) -> bool:
    """torch.export archives (``torch.export.save``) are zip files with an ``archive_format`` entry."""
    model_file_size(path)
    if not zipfile.is_zipfile(path):
        return False
    try:
        with zipfile.ZipFile(path) as archive:
            return any(name.endswith("/archive_format") or name == "archive_format" for name in archive.namelist())
    except (zipfile.BadZipFile, OSError):
        return False


def is_torchscript(path: Path) -> bool:
    """TorchScript archives are zip files with a ``code/`` folder (plain checkpoints have none)."""
    model_file_size(path)
    if not zipfile.is_zipfile(path):
        return False
    try:
        with zipfile.ZipFile(path) as archive:
            return any("/code/" in name or name.endswith("constants.pkl") for name in archive.namelist())
    except (zipfile.BadZipFile, OSError):
        return False


def _check_container(path: Path) -> None:
    """Refuse what cannot be a checkpoint before torch sees it (a cut zip sends torch down a slow path)."""
    model_file_size(path)
    with path.open("rb") as handle:
        head = handle.read(4)
    if head.startswith(b"PK"):
        if not zipfile.is_zipfile(path):
            raise ModelError(f"{path.name} is a truncated or damaged checkpoint (its zip directory is missing).")
    elif not head.startswith(b"\x80"):  # the legacy format starts with a pickle protocol byte
        raise ModelError(f"{path.name} is not a PyTorch checkpoint (it is neither a zip archive nor a pickle).")


@overload
def read_checkpoint(path: Path, trust: Literal[False] = False,
                    code: str | os.PathLike[str] | None = None) -> tuple[dict[str, torch.Tensor], dict]: ...


@overload
def read_checkpoint(path: Path, trust: bool,
                    code: str | os.PathLike[str] | None = None) -> tuple[dict[str, torch.Tensor] | nn.Module, dict]: ...


def read_checkpoint(path: Path, trust: bool = False,
                    code: str | os.PathLike[str] | None = None) -> tuple[dict[str, torch.Tensor] | nn.Module, dict]:
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
        obj, code_module = _load_trusted_pickle(path, code)
        return obj, {"code": code_module}  # the module the pickle's classes came from
    except Exception as exc:  # noqa: BLE001 - zip/EOF/runtime errors all mean a damaged file
        raise ModelError(f"{path.name} is not a readable PyTorch checkpoint (truncated or corrupt: "
                         f"{short_error(exc)}).") from None
    if isinstance(obj, nn.Module):
        return obj, {}
    return _unwrap_state_dict(obj, path)


def _load_trusted_pickle(path: Path, code: str | os.PathLike[str] | None = None) -> tuple[nn.Module, Any]:
    module = import_file(code) if code is not None else None
    stem = Path(code).stem if code is not None else None
    try:
        with quiet():
            obj = torch.load(str(path), map_location="cpu", weights_only=False,
                             pickle_module=code_pickle_module(module, stem))
    except MissingClassError as exc:
        missing = str(exc)
        where = f"{Path(code).name} does not define it" if code is not None else "pass --code FILE.py"
        raise ModelError(f"{path.name} is a pickled model whose class {missing} cannot be found here: "
                         f"{where} (the Python file that defines {missing.rpartition('.')[2]}, "
                         f"with --trust-file).") from None
    except Exception as exc:  # noqa: BLE001
        raise ModelError(f"{path.name} could not be unpickled ({short_error(exc)}).") from None
    if not isinstance(obj, nn.Module):
        raise ModelError(f"{path.name} was unpickled but holds a {type(obj).__name__}, not a model.")
    return obj, module


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

    model_file_size(path)
    try:
        with safe_open(str(path), framework="pt", device="cpu") as handle:
            meta = dict(handle.metadata() or {})
            state = {key: handle.get_tensor(key) for key in handle.keys()}  # noqa: SIM118
    except (SafetensorError, OSError, ValueError) as exc:
        raise ModelError(f"{path.name} is not a valid safetensors file ({short_error(exc)}).") from None
    if not state:
        raise ModelError(f"{path.name} holds no weight tensors.")
    return strip_module_prefix(state), meta


def load_torchscript(path: Path) -> torch.jit.ScriptModule:
    """The TorchScript archive at ``path`` (code that runs on loading: call this only for a trusted file)."""
    try:
        with quiet():  # torch's FutureWarning that torch.jit.load is deprecated is not the user's business
            return torch.jit.load(str(path), map_location="cpu")
    except Exception as exc:  # noqa: BLE001 - any failure of a foreign archive is a user error
        raise ModelError(f"{path.name} could not be read as TorchScript ({short_error(exc)}).") from None


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


def short_error(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:160]
