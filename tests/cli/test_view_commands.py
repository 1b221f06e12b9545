"""``cnnviz embed`` (a dataset's activations as a 2-D map) and ``cnnviz attack`` (an adversarial input)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

import cnnviz
from cnnviz.cli import main
from cnnviz.core.assets import samples_dir
from cnnviz.core.data.datasets import load_samples

SHARED_MNIST = Path(__file__).resolve().parents[3] / "shared" / "data"


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def _one_line_error(err: str, text: str) -> None:
    assert err.startswith("cnnviz: error: ") and err.count("\n") == 1 and text in err


def test_embed_json_lists_every_sample_in_the_splits_order(capsys, tmp_path):
    out_png = tmp_path / "map.png"
    code, out, err = run(capsys, "embed", "lenet5-mnist", "--dataset", "samples-mnist", "--out", out_png, "--json")
    assert code == 0 and err == ""
    data = json.loads(out)
    assert set(data) == {"stage", "method", "points"} and data["stage"] == "relu4" and data["method"] == "pca"
    points = np.array(data["points"])
    assert points.shape == (200, 4)
    assert points[:, 3].tolist() == list(range(200))
    assert points[:, 2].astype(int).tolist() == load_samples("mnist").labels.tolist()
    assert np.ptp(points[:, 0]) > 1 and np.ptp(points[:, 1]) > 1
    image = cv2.imread(str(out_png))
    assert image is not None and image.shape[1] > 600


def test_embed_a_stage_with_tsne_says_what_it_did(capsys, tmp_path):
    code, out, err = run(capsys, "embed", "lenet5-mnist", "--dataset", "samples-mnist", "--stage", "pool2",
                         "--method", "tsne", "--max-samples", 100, "--out", tmp_path / "t.png")
    assert code == 0 and err == ""
    assert "100 samples of samples-mnist at pool2, t-SNE" in out and "1-NN accuracy in 2-D" in out


@pytest.mark.skipif(not (SHARED_MNIST / "MNIST").is_dir(), reason="the shared MNIST test digits are not here")
def test_embed_real_mnist(capsys, tmp_path):
    code, out, _ = run(capsys, "embed", "lenet5-mnist", "--dataset", "mnist", "--data-root", SHARED_MNIST,
                       "--max-samples", 400, "--out", tmp_path / "m.png", "--json")
    assert code == 0 and len(json.loads(out)["points"]) == 400


def test_embed_errors_are_one_line(capsys, tmp_path, monkeypatch):
    code, _, err = run(capsys, "embed", "lenet5-mnist", "--dataset", "samples-mnist", "--stage", "conv9",
                       "--out", tmp_path / "x.png")
    assert code == 2
    _one_line_error(err, "'conv9' is not a stage of lenet5-mnist")
    code, _, err = run(capsys, "embed", "lenet5-mnist", "--dataset", "samples-mnist", "--out", tmp_path / "x.jpg")
    assert code == 2
    _one_line_error(err, "--out must end in .png")
    monkeypatch.setitem(sys.modules, "umap", None)  # umap-learn missing
    code, _, err = run(capsys, "embed", "lenet5-mnist", "--dataset", "samples-mnist", "--method", "umap",
                       "--out", tmp_path / "u.png")
    assert code == 2 and not (tmp_path / "u.png").exists()
    _one_line_error(err, "pip install cnnviz[umap]")
    code, _, err = run(capsys, "embed", "lenet5-mnist", "--dataset", "mnist", "--out", tmp_path / "x.png")
    assert code == 2
    _one_line_error(err, "--data-root is needed for mnist")


def test_attack_npz_tensors_reproduce_the_json(capsys, tmp_path):
    digit = samples_dir() / "digits" / "7.png"
    adv_png, npz = tmp_path / "adv.png", tmp_path / "adv.npz"
    code, out, err = run(capsys, "attack", digit, "--model", "lenet5-mnist", "--eps", 0.3, "--out", adv_png,
                         "--npz", npz, "--json")
    assert code == 0 and err == ""
    report = json.loads(out)
    assert report["before"]["name"] == "7" and report["after"]["class"] != 7 and report["flipped"]
    model = cnnviz.load_model("lenet5-mnist", "cpu")
    spec = model.cnnviz_spec
    with np.load(npz) as saved:
        x, adv = torch.from_numpy(saved["input"]), torch.from_numpy(saved["adversarial"])
    assert x.shape == adv.shape == (1, 28, 28)
    with torch.no_grad():
        before, after = torch.softmax(model(torch.stack([x, adv])), 1)
    assert int(before.argmax()) == report["before"]["class"]
    assert float(before.max()) == pytest.approx(report["before"]["probability"], abs=1e-5)
    assert int(after.argmax()) == report["after"]["class"]
    assert float(after.max()) == pytest.approx(report["after"]["probability"], abs=1e-5)
    mean, std = torch.tensor(spec.mean).view(-1, 1, 1), torch.tensor(spec.std).view(-1, 1, 1)
    pixels, adv_pixels = x * std + mean, adv * std + mean
    assert float(adv_pixels.min()) >= -1e-6 and float(adv_pixels.max()) <= 1 + 1e-6
    assert float((adv_pixels - pixels.clamp(0, 1)).abs().max()) <= 0.3 + 1e-5
    picture = cv2.imread(str(adv_png), cv2.IMREAD_GRAYSCALE)
    assert picture.shape == (28, 28)
    assert np.abs(picture.astype(float) - adv_pixels[0].numpy() * 255).max() <= 0.6


def test_attack_towards_a_class_in_words(capsys, tmp_path):
    digit = samples_dir() / "digits" / "1.png"
    code, out, err = run(capsys, "attack", digit, "--model", "lenet5-mnist", "--method", "pgd", "--eps", 0.3,
                         "--steps", 30, "--target", "8", "--out", tmp_path / "a.png",
                         "--perturbation", tmp_path / "p.png")
    assert code == 0 and err == ""
    assert "-> 8" in out and "towards 8" in out and "reached" in out and "not reached" not in out
    perturbation = cv2.imread(str(tmp_path / "p.png"))
    assert perturbation.shape == (224, 224, 3)


@pytest.mark.parametrize("extra,text", [
    (["--eps", "-0.1"], "outside 0..1"), (["--target", "10"], "out of range"), (["--target", "cat"], "not a class"),
    (["--steps", "0"], "at least 1")])
def test_attack_errors_are_one_line(capsys, tmp_path, extra, text):
    digit = samples_dir() / "digits" / "3.png"
    code, _, err = run(capsys, "attack", digit, "--model", "lenet5-mnist", "--out", tmp_path / "a.png", *extra)
    assert code == 2 and not (tmp_path / "a.png").exists()
    _one_line_error(err, text)
