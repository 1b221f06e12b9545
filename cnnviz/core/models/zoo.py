"""The model zoo: a registry of model specs, and building a model from one.

A spec says everything the rest of the program needs to feed a model and label its
output (input shape, mean/std, class names, how to preprocess) and where its weights
come from. Weights are loaded by :mod:`cnnviz.core.models.model_io`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch
from torch import nn

from cnnviz.core.assets import assets_dir, models_dir
from cnnviz.core.data.classes import CIFAR_CLASSES, DIGITS, FASHION_CLASSES
from cnnviz.core.errors import ModelError
from cnnviz.core.models.architectures import ARCHITECTURES
from cnnviz.core.models.torchvision_weights import TORCHVISION_WEIGHTS, torchvision_cache_path

MNIST_MEAN, MNIST_STD = (0.1307,), (0.3081,)
FASHION_MEAN, FASHION_STD = (0.2860,), (0.3530,)
CIFAR_MEAN, CIFAR_STD = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


#: torchvision ImageNet families offered by name (weights from the torch cache or a download).
TORCHVISION_MODELS = (
    "alexnet", "vgg11", "vgg16", "resnet18", "resnet50", "googlenet", "squeezenet1_1", "mobilenet_v3_small",
)


@dataclass(frozen=True)
class ModelSpec:
    """What a model expects and what its outputs mean.

    ``preprocess`` is ``digit`` (MNIST-style ink crop and centring), ``resize`` (straight
    to the input size) or ``imagenet`` (shorter side to 256/224 of the input, centre crop).
    ``weights`` is None for random init, ``asset:FILE`` for shipped weights,
    ``torchvision:ENUM`` for ImageNet weights, or ``file:PATH`` for a user's checkpoint.
    """

    name: str
    arch: str
    input_shape: tuple[int, int, int]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    class_names: tuple[str, ...]
    preprocess: str = "resize"
    weights: str | None = None
    family: str = "teaching"
    description: str = ""
    notes: tuple[str, ...] = field(default=())

    @property
    def trained(self) -> bool:
        return self.weights is not None

    @property
    def channels(self) -> int:
        return self.input_shape[0]

    def with_notes(self, *notes: str) -> ModelSpec:
        return replace(self, notes=self.notes + tuple(notes))


def _teaching_specs() -> list[ModelSpec]:
    return [
        ModelSpec("lenet5", "lenet5", (1, 28, 28), MNIST_MEAN, MNIST_STD, DIGITS, "digit",
                  description="LeNet-5 for 28x28 digits (untrained)"),
        ModelSpec("mnist-cnn", "mnist-cnn", (1, 28, 28), MNIST_MEAN, MNIST_STD, DIGITS, "digit",
                  description="three conv blocks (32, 64, 128) for 28x28 digits (untrained)"),
        ModelSpec("frnet", "frnet", (1, 150, 150), (0.5,), (0.5,), ("FRI", "FRII"), "resize",
                  description="radio-galaxy FRI/FRII classifier, 150x150 grey (untrained)"),
        ModelSpec("cifar-convnet", "cifar-convnet", (3, 32, 32), CIFAR_MEAN, CIFAR_STD, CIFAR_CLASSES, "resize",
                  description="AlexNet-style net for 32x32 colour images (untrained)"),
        ModelSpec("tinyvgg", "tinyvgg", (3, 64, 64), IMAGENET_MEAN, IMAGENET_STD,
                  tuple(f"class {i}" for i in range(10)), "resize",
                  description="CNN Explainer's TinyVGG, 64x64 colour (untrained)"),
    ]


def _trained_specs() -> list[ModelSpec]:
    rows = [
        ("lenet5-mnist", "lenet5", MNIST_MEAN, MNIST_STD, DIGITS, "LeNet-5 trained on MNIST digits"),
        ("mnist-cnn-mnist", "mnist-cnn", MNIST_MEAN, MNIST_STD, DIGITS, "mnist-cnn trained on MNIST digits"),
        ("mnist-cnn-fashion", "mnist-cnn", FASHION_MEAN, FASHION_STD, FASHION_CLASSES,
         "mnist-cnn trained on Fashion-MNIST"),
    ]
    specs = []
    for name, arch, mean, std, classes, text in rows:
        preprocess = "digit" if classes is DIGITS else "fashion"
        spec = ModelSpec(name, arch, (1, 28, 28), mean, std, classes, preprocess,
                         weights=f"asset:{name}.safetensors", family="trained", description=text)
        specs.append(_apply_card(spec))
    return specs


def _apply_card(spec: ModelSpec) -> ModelSpec:
    """Take mean/std, class names and the accuracy from the model card shipped beside the weights."""
    card_path = models_dir() / f"{spec.name}.json"
    if not card_path.is_file():
        return spec
    try:
        card = json.loads(card_path.read_text(encoding="utf-8"))
        accuracy = card.get("test_accuracy")
        text = spec.description + (f" ({accuracy * 100:.1f} % test accuracy)" if accuracy else "")
        return replace(spec, mean=tuple(card.get("mean", spec.mean)), std=tuple(card.get("std", spec.std)),
                       class_names=tuple(card.get("class_names", spec.class_names)), description=text)
    except (OSError, ValueError, TypeError):
        return spec




def imagenet_classes() -> tuple[str, ...]:
    """The 1000 ImageNet class names, as torchvision's weights list them (assets/imagenet_classes.txt)."""
    text = (assets_dir() / "imagenet_classes.txt").read_text(encoding="utf-8")
    return tuple(line for line in text.splitlines() if line)


def _torchvision_specs() -> list[ModelSpec]:
    categories = imagenet_classes()
    specs = []
    for name in TORCHVISION_MODELS:
        enum_name = TORCHVISION_WEIGHTS[name][0]
        specs.append(ModelSpec(name, name, (3, 224, 224), IMAGENET_MEAN, IMAGENET_STD, categories, "imagenet",
                               weights=f"torchvision:{enum_name}", family="imagenet",
                               description=f"torchvision {name}, ImageNet"))
    return specs


_REGISTRY: dict[str, ModelSpec] | None = None


def registry() -> dict[str, ModelSpec]:
    """All named models, teaching architectures first, then trained, then ImageNet."""
    global _REGISTRY
    if _REGISTRY is None:
        specs = _teaching_specs() + _trained_specs() + _torchvision_specs()
        _REGISTRY = {spec.name: spec for spec in specs}
    return _REGISTRY


def get_spec(name: str) -> ModelSpec:
    try:
        return registry()[name]
    except KeyError:
        close = [n for n in registry() if name.lower() in n or n in name.lower()]
        hint = f" Did you mean {', '.join(close[:3])}?" if close else " 'cnnviz models' lists them."
        raise ModelError(f"There is no model called '{name}'.{hint}") from None


def weights_present(spec: ModelSpec) -> bool:
    """Whether loading ``spec`` needs no download (random init, shipped, or already cached)."""
    if spec.weights is None:
        return True
    kind, _, ref = spec.weights.partition(":")
    if kind == "asset":
        return (models_dir() / ref).is_file()
    if kind == "torchvision":
        return torchvision_cache_path(spec.arch, spec.weights).is_file()
    return Path(ref).is_file()


def build_architecture(arch: str, num_classes: int | None = None, in_channels: int | None = None,
                       pretrained_layout: bool = False) -> nn.Module:
    """A fresh model of a named architecture with a fixed seed, so random-init views are repeatable.

    ``pretrained_layout`` builds torchvision models the way their pretrained weights expect
    (GoogLeNet with its auxiliary heads and input transform).
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        if arch in ARCHITECTURES:
            kwargs: dict[str, int] = {}
            if num_classes is not None:
                kwargs["num_classes"] = num_classes
            if in_channels is not None:
                kwargs["in_channels"] = in_channels
            return ARCHITECTURES[arch](**kwargs)
        if arch in TORCHVISION_MODELS:
            from cnnviz.core.torchvision_import import import_torchvision

            torchvision = import_torchvision()

            kwargs2: dict[str, object] = {"weights": None}
            if num_classes is not None:
                kwargs2["num_classes"] = num_classes
            if arch == "googlenet":
                kwargs2.update(aux_logits=pretrained_layout, transform_input=pretrained_layout,
                               init_weights=not pretrained_layout)
            return torchvision.models.get_model(arch, **kwargs2)
    known = ", ".join(list(ARCHITECTURES) + list(TORCHVISION_MODELS))
    raise ModelError(f"'{arch}' is not an architecture cnnviz knows; known: {known}.")


def spec_for_arch(arch: str) -> ModelSpec:
    """The base spec of an architecture (for a user's checkpoint that names only its architecture)."""
    for spec in registry().values():
        if spec.arch == arch and spec.family in ("teaching", "imagenet"):
            return spec
    raise ModelError(f"'{arch}' is not an architecture cnnviz knows; 'cnnviz models' lists them.")


def spec_of(model: nn.Module) -> ModelSpec:
    """The spec attached to a model by :func:`cnnviz.load_model`."""
    spec = getattr(model, "cnnviz_spec", None)
    if not isinstance(spec, ModelSpec):
        raise ModelError("This model was not loaded through cnnviz.load_model, so it has no spec.")
    return spec
