"""Model files are data: weights load, code is refused, mismatches are named by layer."""

from __future__ import annotations

import os
import zipfile

import pytest
import torch
from safetensors.torch import save_file

import cnnviz
from cnnviz.core.errors import ModelError, UntrustedFileError, WeightsUnavailableError
from cnnviz.core.models.model_io import torchvision_cache_path
from cnnviz.core.models.zoo import build_architecture, get_spec


def lenet_state():
    return build_architecture("lenet5").state_dict()


def test_safetensors_with_metadata_loads_alone(tmp_path):
    path = tmp_path / "mine.safetensors"
    state = lenet_state()
    save_file(state, str(path), metadata={"arch": "lenet5", "class_names": '["a","b","c","d","e","f","g","h","i","j"]'})
    model = cnnviz.load_model(path, "cpu")
    assert model.cnnviz_spec.class_names[0] == "a"
    assert torch.equal(model.conv1.weight, state["conv1.weight"])
    assert not model.training


@pytest.mark.parametrize("broken", ["[" * 100_000 + "]" * 100_000, "[" + "1" * 5000 + "]", "[nope"])
def test_metadata_python_cannot_read_falls_back_to_the_architecture_defaults(tmp_path, broken):
    path = tmp_path / "odd.safetensors"
    save_file(lenet_state(), str(path), metadata={"arch": "lenet5", "class_names": broken, "mean": broken})
    spec = cnnviz.load_model(path, "cpu").cnnviz_spec
    assert spec.class_names == get_spec("lenet5").class_names and spec.mean == get_spec("lenet5").mean


def test_state_dict_checkpoint_with_arch_flag_and_module_prefix(tmp_path):
    path = tmp_path / "ckpt.pth"
    torch.save({"state_dict": {f"module.{k}": v for k, v in lenet_state().items()}, "epoch": 3}, path)
    with pytest.raises(ModelError, match="--arch"):
        cnnviz.load_model(path, "cpu")
    model = cnnviz.load_model(path, "cpu", arch="lenet5")
    assert model.cnnviz_spec.arch == "lenet5"


def test_number_of_classes_is_taken_from_the_checkpoint(tmp_path):
    path = tmp_path / "two.pt"
    torch.save(build_architecture("lenet5", num_classes=2).state_dict(), path)
    model = cnnviz.load_model(path, "cpu", arch="lenet5")
    assert model.fc3.out_features == 2 and len(model.cnnviz_spec.class_names) == 2


def test_mismatch_is_reported_by_layer_and_nothing_loads(tmp_path):
    state = lenet_state()
    state["conv2.weight"] = torch.zeros(16, 6, 3, 3)
    del state["fc2.bias"]
    state["extra.weight"] = torch.zeros(1)
    path = tmp_path / "bad.pt"
    torch.save(state, path)
    with pytest.raises(ModelError) as info:
        cnnviz.load_model(path, "cpu", arch="lenet5")
    text = str(info.value)
    assert "missing fc2.bias" in text and "unexpected extra.weight" in text and "conv2.weight is (16, 6, 3, 3)" in text
    assert "Nothing was loaded" in text


class Payload:
    def __init__(self, canary: str) -> None:
        self.canary = canary

    def __reduce__(self):
        return (os.system, (f"touch {self.canary}",))


def test_pickle_payload_is_refused_and_never_runs(tmp_path):
    canary = tmp_path / "canary"
    path = tmp_path / "evil.pt"
    torch.save({"weights": Payload(str(canary))}, path)
    with pytest.raises(UntrustedFileError, match="pickled Python objects"):
        cnnviz.load_model(path, "cpu", arch="lenet5")
    assert not canary.exists()


def test_torchscript_needs_trust(tmp_path):
    path = tmp_path / "scripted.pt"
    torch.jit.script(build_architecture("lenet5")).save(str(path))
    with pytest.raises(UntrustedFileError, match="TorchScript"):
        cnnviz.load_model(path, "cpu")
    model = cnnviz.load_model(path, "cpu", trust=True)
    assert "trusted" in model.cnnviz_spec.notes[0]
    result = cnnviz.capture(model, torch.rand(1, 1, 28, 28))
    assert result.probabilities.shape == (1, 10)


@pytest.mark.parametrize("content", [b"", b"garbage" * 100, b"PK\x03\x04" + b"\x00" * 50])
def test_empty_garbage_and_broken_zip_files(tmp_path, content):
    path = tmp_path / "broken.pt"
    path.write_bytes(content)
    with pytest.raises(ModelError) as info:
        cnnviz.load_model(path, "cpu", arch="lenet5")
    assert "\n" not in str(info.value)


def test_truncated_checkpoint(tmp_path):
    path = tmp_path / "full.pt"
    torch.save(lenet_state(), path)
    data = path.read_bytes()
    cut = tmp_path / "cut.pt"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelError, match="truncated"):
        cnnviz.load_model(cut, "cpu", arch="lenet5")


def test_corrupt_safetensors_header(tmp_path):
    path = tmp_path / "bad.safetensors"
    path.write_bytes((10**12).to_bytes(8, "little") + b"{")
    with pytest.raises(ModelError, match="not a valid safetensors"):
        cnnviz.load_model(path, "cpu")


def test_nan_weights_are_flagged(tmp_path):
    state = lenet_state()
    state["conv1.weight"][0, 0, 0, 0] = float("nan")
    path = tmp_path / "nan.safetensors"
    save_file(state, str(path), metadata={"arch": "lenet5"})
    model = cnnviz.load_model(path, "cpu")
    assert any("conv1.weight" in note and "NaN" in note for note in model.cnnviz_spec.notes)


def test_imagenet_weights_offline_say_what_to_do(torch_home):
    with pytest.raises(WeightsUnavailableError, match="--untrained"):
        cnnviz.load_model("resnet18", "cpu")
    model = cnnviz.load_model("resnet18", "cpu", pretrained=False)
    assert not model.cnnviz_spec.trained


def test_imagenet_weights_from_the_cache(torch_home):
    spec = get_spec("squeezenet1_1")
    path = torchvision_cache_path(spec)
    path.parent.mkdir(parents=True)
    torch.manual_seed(3)
    state = build_architecture("squeezenet1_1").state_dict()
    torch.save(state, path)
    model = cnnviz.load_model("squeezenet1_1", "cpu")
    assert model.cnnviz_spec.trained
    assert torch.equal(model.features[0].weight, state["features.0.weight"])


def test_googlenet_cached_weights_with_aux_heads(torch_home):
    spec = get_spec("googlenet")
    path = torchvision_cache_path(spec)
    path.parent.mkdir(parents=True)
    torch.save(build_architecture("googlenet", pretrained_layout=True).state_dict(), path)
    model = cnnviz.load_model("googlenet", "cpu")
    assert model.aux1 is None
    assert cnnviz.capture(model, torch.rand(1, 3, 224, 224)).probabilities.shape == (1, 1000)


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(ModelError, match="does not exist"):
        cnnviz.load_model(tmp_path / "nope.pt")
    with pytest.raises(ModelError, match="folder"):
        cnnviz.load_model(tmp_path)


def test_zip_without_code_is_not_torchscript(tmp_path):
    path = tmp_path / "plain.zip.pt"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("hello.txt", "hi")
    with pytest.raises(ModelError):
        cnnviz.load_model(path, "cpu", arch="lenet5")
