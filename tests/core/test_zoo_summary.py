"""The teaching architectures have the exact shapes the lessons describe."""

from __future__ import annotations

import pytest

import cnnviz
from cnnviz.core.engine.summary import summarize
from cnnviz.core.errors import ModelError
from cnnviz.core.models.zoo import TORCHVISION_MODELS, get_spec, registry


def shapes(name: str, input_shape=None) -> dict[str, list[int]]:
    model = cnnviz.load_model(name, "cpu")
    summary = summarize(model, input_shape or get_spec(name).input_shape)
    return {s.name: (s.output_shape, s.input_shape, s.params, s.kind) for s in summary.stages}


def test_frnet_shapes():
    s = shapes("frnet", (1, 150, 150))
    assert s["conv1"][0] == [6, 146, 146]
    assert s["pool1"][0] == [6, 73, 73]
    assert s["conv2"][0] == [16, 69, 69]
    assert s["pool2"][0] == [16, 34, 34]
    assert s["fc1"][1] == [18496]
    assert s["fc3"][0] == [2]


def test_mnist_cnn_shapes():
    s = shapes("mnist-cnn")
    assert [s[f"pool{i}"][0][1] for i in (1, 2, 3)] == [14, 7, 4]
    assert s["conv1"][0] == [32, 28, 28]
    assert s["fc1"][1] == [2048]
    assert s["fc1"][0] == [625]


def test_cifar_convnet_first_linear_takes_1024():
    s = shapes("cifar-convnet")
    assert s["fc1"][1] == [1024]


def test_lenet5_layers_and_params():
    s = shapes("lenet5")
    assert s["conv1"][0] == [6, 28, 28] and s["conv1"][2] == 156
    assert s["pool2"][0] == [16, 5, 5]
    assert s["fc1"][1] == [400] and s["fc1"][0] == [120]
    assert s["fc2"][0] == [84] and s["fc3"][0] == [10]


def test_tinyvgg_shapes():
    s = shapes("tinyvgg")
    assert s["pool2"][0] == [10, 13, 13]


def test_registry_has_every_family():
    names = set(registry())
    assert {"lenet5", "mnist-cnn", "frnet", "cifar-convnet", "tinyvgg"} <= names
    assert {"lenet5-mnist", "mnist-cnn-mnist", "mnist-cnn-fashion"} <= names
    assert set(TORCHVISION_MODELS) <= names
    assert len(get_spec("resnet18").class_names) == 1000


def test_unknown_model_suggests_names():
    with pytest.raises(ModelError, match="no model called 'lenet'.*lenet5"):
        cnnviz.load_model("lenet")


def test_torchvision_table_matches_torchvision():
    """The zoo lists ImageNet models without importing torchvision; its table must say what torchvision says."""
    import os
    from urllib.parse import urlparse

    import torchvision

    from cnnviz.core.models.torchvision_weights import TORCHVISION_WEIGHTS
    from cnnviz.core.models.zoo import TORCHVISION_MODELS, imagenet_classes

    assert set(TORCHVISION_WEIGHTS) == set(TORCHVISION_MODELS)
    for name, (enum_name, file_name) in TORCHVISION_WEIGHTS.items():
        weights = torchvision.models.get_model_weights(name).DEFAULT
        assert f"{type(weights).__name__}.{weights.name}" == enum_name
        assert os.path.basename(urlparse(weights.url).path) == file_name
        assert tuple(weights.meta["categories"]) == imagenet_classes()


def test_listing_the_zoo_does_not_import_torchvision():
    import subprocess
    import sys

    code = ("import sys; from cnnviz.core.models.zoo import registry, weights_present; "
            "[weights_present(s) for s in registry().values()]; print('torchvision' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
