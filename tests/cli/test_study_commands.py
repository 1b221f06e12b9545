"""``cnnviz features`` and ``cnnviz exemplars``: the files and the JSON the issue specifies, and a clean
stderr when it is not a terminal."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import torch

import cnnviz
from cnnviz.cli import main
from cnnviz.core.data.datasets import load_samples


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(autouse=True)
def _cache_home(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # the default cache, never ~/.cache
    monkeypatch.delenv("CNNVIZ_CACHE", raising=False)


def test_features_writes_a_png_per_channel_a_grid_and_the_model_inputs(capsys, tmp_path):
    out_dir = tmp_path / "features"
    code, out, err = run(capsys, "features", "lenet5-mnist", "--stage", "relu2", "--channels", "0-2,12",
                         "--steps", "8", "--out", str(out_dir), "--json")
    assert code == 0 and err == ""
    report = json.loads(out)
    assert report["stage"] == "relu2" and [c["channel"] for c in report["channels"]] == [0, 1, 2, 12]
    model = cnnviz.load_model("lenet5-mnist", "cpu")
    with np.load(out_dir / "features.npz") as saved:
        assert sorted(saved.files) == ["channel_0", "channel_1", "channel_12", "channel_2"]
        for row in report["channels"]:
            x = saved[f"channel_{row['channel']}"]
            assert x.shape == (1, 28, 28) and x.dtype == np.float32
            stage = cnnviz.capture(model, torch.from_numpy(x)).by_name("relu2")
            assert row["activation"] == pytest.approx(float(stage.output[0, row["channel"]].mean()), rel=1e-5)
            assert cv2.imread(row["path"], cv2.IMREAD_UNCHANGED).shape == (28, 28)
    assert cv2.imread(str(out_dir / "grid.png")).shape[2] == 3


def test_features_class_objective_needs_no_stage(capsys, tmp_path):
    code, out, _ = run(capsys, "features", "lenet5-mnist", "--objective", "class", "--channels", "7", "--steps", "8",
                       "--out", str(tmp_path), "--json")
    assert code == 0 and json.loads(out)["stage"] == "fc3"


def test_features_errors_are_one_sentence(capsys, tmp_path):
    code, _, err = run(capsys, "features", "lenet5-mnist", "--stage", "conv9", "--out", str(tmp_path))
    assert code == 2 and err.startswith("cnnviz: error: The model has no stage 'conv9'") and err.count("\n") == 1
    code, _, err = run(capsys, "features", "lenet5-mnist", "--stage", "relu2", "--channels", "3,99",
                       "--out", str(tmp_path))
    assert code == 2 and "channels 0..15" in err
    with pytest.raises(SystemExit):
        main(["features", "lenet5-mnist", "--stage", "relu2", "--channels", "7-2", "--out", str(tmp_path)])
    assert "not channels such as 0-7,12" in capsys.readouterr().err


def test_exemplars_json_lists_the_top_samples_with_boxes(capsys, tmp_path):
    code, out, err = run(capsys, "exemplars", "lenet5-mnist", "--stage", "relu2", "--dataset", "samples-mnist",
                         "--top", "4", "--channels", "1,5", "--out", str(tmp_path / "ex"), "--json")
    assert code == 0 and err == ""
    report = json.loads(out)
    assert report["stage"] == "relu2" and report["n"] == 200
    assert [c["channel"] for c in report["channels"]] == [1, 5]
    labels = load_samples("mnist").labels
    for row in report["channels"]:
        top = row["top"]
        assert len(top) == 4 and [t["value"] for t in top] == sorted((t["value"] for t in top), reverse=True)
        assert all(labels[t["index"]] == t["label"] for t in top)
        assert all(0 <= t["box"][0] < t["box"][2] <= 28 and 0 <= t["box"][1] < t["box"][3] <= 28 for t in top)
        assert cv2.imread(row["path"]).shape[2] == 3
    again = run(capsys, "exemplars", "lenet5-mnist", "--stage", "relu2", "--dataset", "samples-mnist", "--top", "4",
                "--channels", "1,5", "--out", str(tmp_path / "ex"))
    assert again[0] == 0 and "from the cache" in again[1]  # the default cache (under XDG_CACHE_HOME)
    assert list((tmp_path / "cache" / "cnnviz" / "exemplars").glob("*.npz"))


def test_exemplars_without_a_data_root_is_a_sentence(capsys, tmp_path, monkeypatch):
    monkeypatch.delenv("CNNVIZ_DATA", raising=False)
    code, _, err = run(capsys, "exemplars", "lenet5-mnist", "--stage", "relu2", "--dataset", "mnist",
                       "--out", str(tmp_path))
    assert code == 2 and err == "cnnviz: error: --data-root is needed for mnist.\n"
