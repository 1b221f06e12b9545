"""A smoke training run: loss falls, the weights, card and plots are written and load back."""

from __future__ import annotations

import json

import numpy as np
import torch
import torch.nn.functional as F

import cnnviz
from cnnviz.cli import main
from cnnviz.core.augment import augment_digits, augment_fashion
from cnnviz.core.datasets import load_samples
from cnnviz.core.evaluation import to_tensor


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


def test_augmentation_keeps_shape_and_range():
    generator = torch.Generator().manual_seed(0)
    x = torch.from_numpy(load_samples("mnist").images[:32]).float().div(255).unsqueeze(1)
    for augment in (augment_digits, augment_fashion):
        y = augment(x, generator)
        assert y.shape == x.shape and float(y.min()) >= 0.0 and float(y.max()) <= 1.0 + 1e-5
        assert not torch.equal(x, y)


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
