"""`cnnviz train` and `cnnviz evaluate`: loss falls, the weights, card and plots are written and load back,
and a seed makes a run reproducible."""

from __future__ import annotations

import json

import numpy as np
import torch
import torch.nn.functional as F

import cnnviz
from cnnviz.cli import main
from cnnviz.core.data.datasets import load_samples
from cnnviz.core.train.evaluation import to_tensor


def loss_on(model, data, mean, std) -> float:
    with torch.no_grad():
        logits = model(to_tensor(data.images, mean, std))
    return float(F.cross_entropy(logits, torch.from_numpy(data.labels)))


def test_train_command_smoke(tmp_path, capsys):
    out = tmp_path / "tiny.safetensors"
    code = main(["train", "--model", "lenet5", "--dataset", "samples-mnist", "--epochs", "4", "--batch-size", "16",
                 "--lr", "0.003", "--device", "cpu", "--out", str(out)])
    printed = capsys.readouterr().out
    assert code == 0 and "epoch   4" in printed
    for suffix in (".safetensors", ".json", "-curves.png", "-confusion.png"):
        assert (tmp_path / f"tiny{suffix}").stat().st_size > 0
    card = json.loads((tmp_path / "tiny.json").read_text())
    assert card["architecture"] == "lenet5" and card["train_size"] == 160 and card["test_size"] == 40
    assert set(card["per_class_accuracy"]) == {str(i) for i in range(10)}
    assert card["command"].startswith("cnnviz") and len(card["history"]) == 4
    losses = [h["loss"] for h in card["history"]]
    assert losses[-1] < losses[0], losses

    model = cnnviz.load_model(out, "cpu")  # the file names its own architecture and classes
    assert model.cnnviz_spec.arch == "lenet5" and model.cnnviz_spec.mean == tuple(card["mean"])
    data = load_samples("mnist")
    fresh = cnnviz.load_model("lenet5", "cpu")
    assert loss_on(model, data, card["mean"], card["std"]) < loss_on(fresh, data, card["mean"], card["std"])

    code = main(["evaluate", "--model", str(out), "--dataset", "samples-mnist", "--json"])
    result = json.loads(capsys.readouterr().out)
    assert code == 0 and result["n"] == 200 and len(result["confusion"]) == 10
    assert 0.0 <= result["accuracy"] <= 1.0 and set(result["per_class"]) == {str(i) for i in range(10)}


def test_evaluate_prints_per_class_lines(capsys):
    code = main(["evaluate", "--model", "lenet5-mnist", "--dataset", "samples-mnist"])
    out = capsys.readouterr().out
    assert code == 0 and "Accuracy of     7 :" in out and "Confusion matrix" in out


def test_training_is_reproducible_with_a_seed(tmp_path, capsys):
    files = []
    for run in range(2):
        out = tmp_path / f"run{run}.safetensors"
        main(["train", "--model", "lenet5", "--dataset", "samples-mnist", "--epochs", "1", "--limit", "64",
              "--device", "cpu", "--seed", "5", "--out", str(out)])
        files.append(cnnviz.load_model(out, "cpu").conv1.weight.detach())
    capsys.readouterr()
    assert torch.equal(files[0], files[1])
    assert np.isfinite(files[0].numpy()).all()
