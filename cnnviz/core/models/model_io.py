"""Loading models by name or from a file, without ever running code the user did not trust.

Plain weights (safetensors, or a state_dict read with ``torch.load(weights_only=True)``)
are data. A pickled whole module, a TorchScript archive, a ``torch.export`` program (``.pt2``:
its loader may unpickle) and Python code (``net.py:Net``, ``package.module:make_net``) are
code: each is opened only after an explicit trust step, and never as a silent retry of a
refused load. A network that is none of the zoo's gets its spec from what it says (see
:func:`user_spec`); TorchScript is converted to an fx graph (through ``torch.export``) so
that every stage shows, and stays a script with input and output only where torch cannot.
"""

from __future__ import annotations

import json
import os
import pickle
import warnings
import zipfile
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal, overload

import torch
from torch import nn

from cnnviz.core.assets import models_dir
from cnnviz.core.errors import ModelError, UntrustedFileError, WeightsUnavailableError
from cnnviz.core.fileio import quiet, regular_file
from cnnviz.core.models.device import resolve_device
from cnnviz.core.models.exported import from_torchscript, load_exported
from cnnviz.core.models.timm_models import is_timm_name, load_timm
from cnnviz.core.models.torchvision_weights import torchvision_cache_path as _cache_path
from cnnviz.core.models.torchvision_weights import torchvision_weights
from cnnviz.core.models.user_code import (
    MissingClassError,
    code_pickle_module,
    import_file,
    model_from_code,
    split_code_ref,
)
from cnnviz.core.models.zoo import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    MNIST_MEAN,
    MNIST_STD,
    ModelSpec,
    build_architecture,
    get_spec,
    registry,
    spec_for_arch,
)

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
    spec = _with_overrides(spec, input_shape=input_shape, labels=labels, mean=mean, std=std,
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
    size = _model_file(path)
    if size == 0:
        raise ModelError(f"{path.name} is empty; it is not a model file.")
    if size > MAX_MODEL_BYTES:
        raise ModelError(f"{path.name} is {size / 1024**3:.1f} GB, larger than any model cnnviz can show.")
    if code is not None and (is_torchscript(path) or is_exported(path) or path.suffix == ".safetensors"):
        raise ModelError(_CODE_ONLY_FOR_PICKLES)
    if is_exported(path):
        if not trust:
            raise UntrustedFileError(
                f"{path.name} is a torch.export program: loading it can unpickle objects stored in it, which "
                f"can run code. Open it only if you trust its source (--trust-file {path.name}).")
        module, shape = load_exported(path)
        return module, user_spec(module, path, "torch.export program (trusted)",
                                 input_shape=input_shape or _shape3(list(shape or ())), card=_card_beside(path))
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
        spec = user_spec(module, path, "TorchScript (trusted code)", input_shape=input_shape, card=_card_beside(path))
        try:
            with warnings.catch_warnings():  # not quiet(): its lock would hold every other reader up this long
                warnings.simplefilter("ignore")
                converted = from_torchscript(module, spec.input_shape)
                with torch.no_grad():
                    same = _same_output(module, converted, spec.input_shape)
        except Exception as exc:  # noqa: BLE001 - the script stays as it is, with fewer stages shown
            return module, spec.with_notes(f"Only the input and the output of this TorchScript model can be shown "
                                           f"(torch could not convert it: {_short(exc)}).")
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
                                    module=meta.get("code"), card=_card_beside(path))
        if code is not None:
            raise ModelError(_CODE_ONLY_FOR_PICKLES)
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


_CODE_ONLY_FOR_PICKLES = "--code goes with a pickled whole model (a .pt file saved with torch.save(model))."
PREPROCESS_KINDS = ("digit", "resize", "imagenet", "fashion")


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
        card = {**_card_beside(wpath), **meta}
        what += f" with weights from {wpath.name}"
        notes = nonfinite_notes(state)
    else:
        notes = [f"{name} has the random weights its code gave it (--weights FILE loads trained ones)."]
    if file is not None:
        card = {**_card_beside(file), **card}
    spec = user_spec(model, Path(name), what, input_shape=input_shape, module=module, card=card)
    return model, replace(spec, weights=f"code:{ref}").with_notes(*notes)


def _same_output(a: nn.Module, b: nn.Module, shape: tuple[int, int, int]) -> bool:
    x = torch.rand((1, *shape), generator=torch.Generator().manual_seed(0))
    out_a, out_b = a(x), b(x)
    return isinstance(out_a, torch.Tensor) and isinstance(out_b, torch.Tensor) and out_a.shape == out_b.shape \
        and torch.allclose(out_a, out_b, atol=1e-4, rtol=1e-4)


def _card_beside(path: Path) -> dict[str, object]:
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


def _shape3(value: object) -> tuple[int, int, int] | None:
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
    shape = (input_shape or _shape3(getattr(model, "input_shape", None))
             or _shape3(getattr(module, "INPUT_SHAPE", None)) or _shape3(card.get("input_shape")))
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
        spec = _with_overrides(spec, mean=card_mean, std=card_std)
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
        raise ModelError(f"{name} raised {type(exc).__name__} on an input of shape {shown} ({_short(exc)}); "
                         f"give the shape it takes with --input-shape C,H,W.") from None
    finally:
        model.train(was_training)
    if isinstance(out, tuple | list) and out:
        out = out[0]
    if not isinstance(out, torch.Tensor) or out.dim() < 1:
        raise ModelError(f"{name} returns a {type(out).__name__}, not a tensor of class scores.")
    return int(out.shape[-1])


def _with_overrides(spec: ModelSpec, *, input_shape: tuple[int, int, int] | None = None,
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
            raise ModelError(f"{path.name} cannot be read as text ({_short(exc)}).") from None
        if len(names) != len(spec.class_names):
            raise ModelError(f"{path.name} names {len(names)} classes but the model gives "
                             f"{len(spec.class_names)} scores.")
        spec = replace(spec, class_names=tuple(names))
    return spec


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


def is_exported(path: Path) -> bool:
    """torch.export archives (``torch.export.save``) are zip files with an ``archive_format`` entry."""
    _model_file(path)
    if not zipfile.is_zipfile(path):
        return False
    try:
        with zipfile.ZipFile(path) as archive:
            return any(name.endswith("/archive_format") or name == "archive_format" for name in archive.namelist())
    except (zipfile.BadZipFile, OSError):
        return False


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
                         f"{_short(exc)}).") from None
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
        raise ModelError(f"{path.name} could not be unpickled ({_short(exc)}).") from None
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
