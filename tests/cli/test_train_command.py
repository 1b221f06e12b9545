"""`cnnviz train` and `cnnviz evaluate`: loss falls, the weights, card and plots are written and load back,
a seed makes a run reproducible, and a run killed mid-way goes on from its last checkpoint with --resume."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import cnnviz
from cnnviz.cli import main
from cnnviz.core.data.datasets import load_samples
from cnnviz.core.train.checkpoint import read_checkpoint
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


def test_a_killed_run_resumes_from_its_last_checkpoint(tmp_path):
    epochs = 12
    argv = [sys.executable, "-m", "cnnviz", "train", "--model", "lenet5", "--dataset", "samples-mnist",
            "--epochs", str(epochs), "--batch-size", "16", "--device", "cpu", "--out", "tiny.safetensors"]
    checkpoint = tmp_path / "tiny.ckpt"  # beside --out by default
    with open(tmp_path / "first.log", "w") as log:
        process = subprocess.Popen(argv, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 120
            while not checkpoint.is_file():  # the first epoch's checkpoint
                try:
                    process.wait(timeout=0.02)  # (returns at once if the run ended)
                    pytest.fail(f"the run ended ({process.returncode}) before its first checkpoint")
                except subprocess.TimeoutExpired:
                    assert time.monotonic() < deadline, "no checkpoint appeared"
        finally:
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL
    done = read_checkpoint(checkpoint, "lenet5", "samples-mnist").epoch  # whole, whenever the kill came
    assert 1 <= done < epochs and not (tmp_path / "tiny.safetensors").exists()
    saved = torch.load(checkpoint, weights_only=True)["model"]

    resumed = subprocess.run([sys.executable, "-m", "cnnviz", "train", "--resume", "tiny.ckpt"], cwd=tmp_path,
                             capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    lines = resumed.stdout.splitlines()
    assert lines[0] == (f"resuming lenet5 on samples-mnist from tiny.ckpt ({done} of {epochs} epochs done): "
                        f"epochs {done + 1} to {epochs} on cpu")
    assert [int(line.split()[1].rstrip(":")) for line in lines if line.startswith("epoch")] == list(
        range(done + 1, epochs + 1))  # never an epoch again that the checkpoint held
    card = json.loads((tmp_path / "tiny.json").read_text())  # the model goes where the first run meant it to go
    assert card["epochs"] == epochs and [h["epoch"] for h in card["history"]] == list(range(1, epochs + 1))
    assert card["resumed_from"]["epoch"] == done and "--out tiny.safetensors" in card["resumed_from"]["command"]
    assert read_checkpoint(checkpoint).finished
    assert not [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]  # a killed write's temporary goes

    # it went on from the checkpoint's weights, optimiser and random state: it ends where a run never killed ends
    whole = subprocess.run([*argv[:-1], "whole.safetensors"], cwd=tmp_path, capture_output=True, text=True,
                           timeout=300)
    assert whole.returncode == 0, whole.stderr
    model = cnnviz.load_model(tmp_path / "tiny.safetensors", "cpu")
    reference = cnnviz.load_model(tmp_path / "whole.safetensors", "cpu")
    for (name, a), b in zip(model.state_dict().items(), reference.state_dict().values(), strict=True):
        assert torch.equal(a, b), name
    assert not torch.equal(saved["conv1.weight"], model.conv1.weight.detach())


def test_train_refuses_a_resume_that_would_change_the_run(tmp_path, capsys):
    out = tmp_path / "tiny.safetensors"
    assert main(["train", "--model", "lenet5", "--dataset", "samples-mnist", "--epochs", "1", "--limit", "32",
                 "--device", "cpu", "--out", str(out)]) == 0
    checkpoint = str(tmp_path / "tiny.ckpt")
    capsys.readouterr()
    refusals = {("--model", "mnist-cnn"): "tiny.ckpt is a checkpoint of lenet5 trained on samples-mnist, not of "
                                          "mnist-cnn on samples-mnist; it cannot continue that run.",
                ("--epochs", "5"): "tiny.ckpt holds a run with --epochs 1; --epochs 5 cannot change it on --resume",
                ("--resume", str(out)): "tiny.safetensors is a trained model, not a training checkpoint",
                ("--checkpoint", str(tmp_path / "x.pt")): "--checkpoint must end in .ckpt (got x.pt)."}
    for extra, sentence in refusals.items():
        argv = ["train", "--resume", checkpoint, *extra] if extra[0] != "--resume" else ["train", *extra]
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.startswith("cnnviz: error: ") and sentence in err and err.count("\n") == 1, err
    assert main(["train", "--model", "lenet5", "--device", "cpu"]) == 2
    assert "required: --dataset, --out (or --resume CKPT" in capsys.readouterr().err
