"""timm models by name (issue #17): listed, summarised, pretrained from the Hugging Face cache, else a sentence."""

from __future__ import annotations

import json

import pytest
import torch

from cnnviz.cli import main
from cnnviz.core.errors import WeightsUnavailableError
from cnnviz.core.models.model_io import load_model

timm = pytest.importorskip("timm")

NAME = "timm:resnet18.a1_in1k"


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def hf_cache(tmp_path, monkeypatch):
    cache = tmp_path / "hf" / "hub"
    cache.mkdir(parents=True)
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return cache


def put_weights(cache, state):
    from safetensors.torch import save_file

    repo = cache / "models--timm--resnet18.a1_in1k"
    snapshot = repo / "snapshots" / "0123abcd"
    snapshot.mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0123abcd")
    save_file({k: v.contiguous() for k, v in state.items()}, str(snapshot / "model.safetensors"))


def test_pretrained_weights_come_from_the_hugging_face_cache(capsys, hf_cache):
    state = timm.create_model("resnet18.a1_in1k", pretrained=False).state_dict()
    state["fc.bias"] = torch.full_like(state["fc.bias"], 0.5)  # a mark that these weights were the ones loaded
    code, out, _ = run(capsys, "models", "--json")
    row = {r["name"]: r for r in json.loads(out)}[NAME]
    assert code == 0 and not row["trained"] and "--untrained" in row["status"]
    put_weights(hf_cache, state)
    model = load_model(NAME, "cpu")
    assert torch.equal(model.fc.bias, state["fc.bias"]) and torch.equal(model.conv1.weight, state["conv1.weight"])
    spec = model.cnnviz_spec
    assert spec.trained and spec.input_shape == (3, 224, 224) and len(spec.class_names) == 1000
    assert spec.preprocess == "imagenet" and spec.family == "timm"
    code, out, _ = run(capsys, "models", "--json")
    assert {r["name"]: r for r in json.loads(out)}[NAME]["trained"]


def test_missing_weights_offline_are_one_sentence_with_the_untrained_choice(capsys, hf_cache):
    with pytest.raises(WeightsUnavailableError, match="--untrained"):
        load_model(NAME, "cpu")
    code, _, err = run(capsys, "summary", NAME)
    assert code == 2 and err.startswith("cnnviz: error: ") and err.count("\n") == 1 and "Hugging Face cache" in err
    model = load_model(NAME, "cpu", pretrained=False)
    assert not model.cnnviz_spec.trained


def test_summary_of_a_timm_model_lists_its_stages(capsys):
    code, out, err = run(capsys, "summary", "timm:resnet18", "--untrained", "--json")
    assert code == 0, err
    rows = json.loads(out)
    kinds = {r["kind"] for r in rows}
    assert {"conv", "norm", "relu", "pool", "add", "linear"} <= kinds
    assert sum(r["kind"] == "add" for r in rows) == 8 and rows[0]["input_shape"] == [3, 224, 224]


@pytest.mark.parametrize("argv,fragment", [
    (["summary", "timm:no_such_net_at_all", "--untrained"], "timm has no model called"),
    (["summary", "timm:resnet18", "--untrained", "--code", "x.py"], "--code goes with"),
])
def test_bad_timm_names_are_one_line_exit_2(capsys, argv, fragment):
    code, _, err = run(capsys, *argv)
    assert code == 2 and err.startswith("cnnviz: error: ") and fragment in err and err.count("\n") == 1, err
