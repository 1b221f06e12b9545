"""timm's image models by name: ``timm:resnet18.a1_in1k`` (an optional extra: ``pip install 'cnnviz[timm]'``).

Pretrained weights come from the Hugging Face cache (``HF_HOME`` / ``HF_HUB_CACHE``) when they are there;
otherwise they are downloaded when this machine is online, or refused with the same sentence (and the same
``--untrained`` choice) as torchvision's families. Weights are safetensors or a state_dict read by timm with
``weights_only``: data, not code.
"""

from __future__ import annotations

import os
from typing import Any

from torch import nn

from cnnviz.core.errors import ModelError, WeightsUnavailableError
from cnnviz.core.fileio import quiet
from cnnviz.core.models.zoo import ModelSpec, imagenet_classes

PREFIX = "timm:"
#: The timm models ``cnnviz models`` lists (any other timm name works too).
TIMM_MODELS = ("timm:resnet18.a1_in1k", "timm:mobilenetv3_small_100.lamb_in1k", "timm:efficientnet_b0.ra_in1k",
               "timm:convnext_atto.d2_in1k")
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")


def is_timm_name(text: str) -> bool:
    return text.startswith(PREFIX) and len(text) > len(PREFIX)


def _timm() -> Any:
    try:
        import timm
    except ImportError:
        raise ModelError("timm models need the timm package: pip install 'cnnviz[timm]' (or pip install timm).") \
            from None
    return timm


def timm_available() -> bool:
    try:
        import timm  # noqa: F401
    except ImportError:
        return False
    return True


def _create(timm: Any, arch: str, **kwargs: Any) -> nn.Module:
    if not timm.is_model(arch):
        close = timm.list_models(f"*{arch.partition('.')[0]}*")[:3]
        hint = f" Did you mean {', '.join('timm:' + c for c in close)}?" if close else ""
        raise ModelError(f"timm has no model called '{arch}'.{hint}")
    try:
        with quiet():
            model: nn.Module = timm.create_model(arch, **kwargs)
    except (RuntimeError, ValueError, KeyError, OSError) as exc:
        raise ModelError(f"timm could not build {arch} ({str(exc).strip().splitlines()[0][:160]}).") from None
    return model


def cached_weights(arch: str) -> str | None:
    """The weights file of ``arch`` in the Hugging Face cache, or None."""
    from huggingface_hub import try_to_load_from_cache

    repo = _pretrained_cfg(arch).get("hf_hub_id")
    if not repo:
        return None
    for filename in WEIGHT_FILES:
        found = try_to_load_from_cache(repo, filename, cache_dir=_cache_dir())
        if isinstance(found, str) and os.path.isfile(found):
            return found
    return None


def _pretrained_cfg(arch: str) -> dict[str, Any]:
    """timm's pretrained configuration of ``arch`` (hub id, input size, mean, std), without building it."""
    timm = _timm()
    if not timm.is_model(arch):
        _create(timm, arch)  # raises the 'no model called' sentence
    cfg = timm.models.get_pretrained_cfg(arch)
    return cfg.to_dict() if cfg is not None else {}


def listed() -> list[tuple[ModelSpec, bool]]:
    """The timm models ``cnnviz models`` lists, each with whether its weights are cached; none without timm."""
    if not timm_available():
        return []
    rows = []
    for name in TIMM_MODELS:
        arch = name[len(PREFIX):]
        rows.append((timm_spec(name, _pretrained_cfg(arch), None, trained=True), cached_weights(arch) is not None))
    return rows


def timm_spec(name: str, cfg: dict[str, Any], num_classes: int | None, trained: bool) -> ModelSpec:
    c, h, w = (int(v) for v in cfg.get("input_size", (3, 224, 224)))
    classes = int(num_classes or cfg.get("num_classes", 1000))
    names = imagenet_classes() if classes == 1000 else tuple(f"class {i}" for i in range(classes))
    mean = tuple(float(v) for v in cfg.get("mean", (0.485, 0.456, 0.406)))
    std = tuple(float(v) for v in cfg.get("std", (0.229, 0.224, 0.225)))
    return ModelSpec(name, name, (c, h, w), mean, std, names, "imagenet", weights=name if trained else None,
                     family="timm", description=f"{name} from timm" + ("" if trained else " (random init)"))


def load_timm(name: str, *, pretrained: bool | None, allow_download: bool) -> tuple[nn.Module, ModelSpec]:
    """``timm:ARCH`` with its pretrained weights (cached, or downloaded when allowed), or random with
    ``pretrained=False``."""
    timm = _timm()
    arch = name[len(PREFIX):]
    if pretrained is False:
        model = _create(timm, arch, pretrained=False)
        return model, timm_spec(name, _cfg_of(model), _classes_of(model), trained=False)
    path = cached_weights(arch)
    if path is not None:
        model = _create(timm, arch, pretrained=True, pretrained_cfg_overlay={"file": path})
        return model, timm_spec(name, _cfg_of(model), _classes_of(model), trained=True)
    offline = os.environ.get("CNNVIZ_OFFLINE", "") not in ("", "0") or os.environ.get("HF_HUB_OFFLINE", "") not in (
        "", "0")
    message = (f"The pretrained weights of {name} are not in the Hugging Face cache ({_cache_dir()}). "
               f"Copy them there, or use --untrained to explore {name} with random weights.")
    if not allow_download or offline:
        raise WeightsUnavailableError(message)
    try:
        model = _create(timm, arch, pretrained=True)
    except Exception:  # noqa: BLE001 - no network, a refused or cut download: all mean no weights
        raise WeightsUnavailableError(message.replace("are not in", "could not be downloaded into")) from None
    return model, timm_spec(name, _cfg_of(model), _classes_of(model), trained=True)


def _cfg_of(model: nn.Module) -> dict[str, Any]:
    cfg = getattr(model, "pretrained_cfg", None)
    return dict(cfg) if isinstance(cfg, dict) else {}


def _classes_of(model: nn.Module) -> int | None:
    value = getattr(model, "num_classes", None)
    return int(value) if isinstance(value, int) else None


def _cache_dir() -> str:
    """The Hugging Face hub cache as the environment says now (huggingface_hub reads it once, at import)."""
    if os.environ.get("HF_HUB_CACHE"):
        return os.environ["HF_HUB_CACHE"]
    if os.environ.get("HF_HOME"):
        return os.path.join(os.environ["HF_HOME"], "hub")
    from huggingface_hub import constants

    return str(constants.HF_HUB_CACHE)
