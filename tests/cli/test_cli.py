"""The command line: JSON outputs, files written, and one-line errors with exit status 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from cnnviz.cli import main
from cnnviz.core.assets import samples_dir
from cnnviz.core.data.imageio import write_png
from cnnviz.core.data.strokes import demo_digit, render

CAT = str(samples_dir() / "photos" / "chelsea.jpg")


@pytest.fixture
def digit(tmp_path):
    path = tmp_path / "seven.png"
    write_png(path, render(demo_digit(7)))
    return str(path)


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_models_json(capsys):
    code, out, _ = run(capsys, "models", "--json")
    rows = {r["name"]: r for r in json.loads(out)}
    assert code == 0 and rows["lenet5"]["status"].startswith("untrained")
    assert rows["resnet18"]["input_shape"] == [3, 224, 224]


def test_summary_json(capsys):
    code, out, _ = run(capsys, "summary", "frnet", "--input-shape", "1,150,150", "--json")
    stages = json.loads(out)
    assert code == 0 and {"name", "kind", "output_shape", "params"} <= set(stages[0])
    assert stages[0]["output_shape"] == [6, 146, 146]


def test_predict_json(capsys, digit):
    code, out, _ = run(capsys, "predict", digit, CAT, "--model", "lenet5", "--top", "3", "--json")
    lines = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and [line["path"] for line in lines] == [digit, CAT]
    assert len(lines[0]["top"]) == 3 and abs(sum(p for _, p in lines[0]["top"])) <= 1.0


def test_render_writes_every_stage_and_npz(capsys, tmp_path, digit):
    npz = tmp_path / "out.npz"
    code, _, _ = run(capsys, "render", digit, "--model", "lenet5", "--out", str(tmp_path / "r"), "--npz", str(npz))
    assert code == 0
    names = sorted(p.name for p in (tmp_path / "r").iterdir())
    assert "000-input.png" in names and "001-conv1.png" in names and "001-conv1-filters.png" in names
    assert "probabilities.png" in names
    with np.load(npz) as data:
        assert data["input"].shape == (1, 28, 28) and data["conv1"].shape == (6, 28, 28)
        assert data["probabilities"].shape == (10,) and "softmax" in data.files


def test_render_pictures_read_back_as_made_and_a_blocked_file_is_one_line(capsys, tmp_path, digit):
    import cv2

    from cnnviz.core.models.model_io import load_model
    from cnnviz.core.teach.export import EXPORT_MIN_TILE, render_to_folder

    model = load_model("lenet5", "cpu")
    out = tmp_path / "r"
    render_to_folder(model, digit, out)
    from cnnviz.core.data.imageio import read_image
    from cnnviz.core.engine.inference import run_image
    from cnnviz.core.engine.render import stage_mosaics

    stages = run_image(model, read_image(digit).rgb).capture.stages
    mosaic = stage_mosaics(stages, max_tiles=None, min_tile=EXPORT_MIN_TILE)["conv1"]
    saved = cv2.cvtColor(cv2.imread(str(out / "001-conv1.png")), cv2.COLOR_BGR2RGB)
    assert np.array_equal(saved, mosaic)  # fast PNG settings, the same pixels

    (tmp_path / "blocked" / "000-input.png").mkdir(parents=True)  # a folder where a picture goes
    code, _, err = run(capsys, "render", digit, "--model", "lenet5", "--out", str(tmp_path / "blocked"))
    assert code == 2 and err.startswith("cnnviz: error: Cannot write") and "000-input.png" in err
    assert len(err.strip().splitlines()) == 1


def test_kernel_writes_npz(capsys, tmp_path):
    npz = tmp_path / "k.npz"
    code, _, _ = run(capsys, "kernel", CAT, "-k", "edge4", "-k", "sobel-x", "--pool", "2", "--out",
                     str(tmp_path / "k"), "--npz", str(npz))
    assert code == 0
    with np.load(npz) as data:
        assert data["kernels"].shape == (5, 4, 4) and data["conv"].shape[0] == 5
        assert data["pool"].shape[1] == data["conv"].shape[1] // 2
        assert np.array_equal(data["relu"], np.maximum(data["conv"], 0))


@pytest.mark.parametrize("argv,fragment", [
    (["predict", "missing.png", "--model", "lenet5"], "does not exist"),
    (["predict", CAT, "--model", "no-such-model"], "no model called"),
    (["predict", CAT, "--model", "lenet5", "--device", "cuda:7"], "cuda"),
    (["predict", CAT, "--model", "resnet18"], "--untrained"),
    (["kernel", CAT, "-k", "nope", "--out", "x"], "neither a kernel preset"),
    (["summary", "missing.pt"], "does not exist"),
    (["evaluate", "--model", "lenet5", "--dataset", "mnist", "--data-root", "/nonexistent"], "does not exist"),
])
def test_errors_are_one_line_exit_2(capsys, argv, fragment):
    code, _, err = run(capsys, *argv)
    assert code == 2
    assert err.startswith("cnnviz: error: ") and fragment in err and err.count("\n") == 1
    assert "Traceback" not in err


def test_bad_image_file_exit_2(capsys, tmp_path):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\xff\xd8\xff garbage")
    code, _, err = run(capsys, "predict", str(bad), "--model", "lenet5")
    assert code == 2 and "cnnviz: error:" in err


def test_argparse_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as info:
        main(["summary", "lenet5", "--input-shape", "1,x"])
    assert info.value.code == 2
    assert "cnnviz" in capsys.readouterr().err


def test_predict_never_imports_qt_and_module_entry_point(digit):
    code = (f"import sys, runpy; sys.argv=['cnnviz','predict',{digit!r},'--model','lenet5','--json']\n"
            "try:\n runpy.run_module('cnnviz', run_name='__main__')\nexcept SystemExit as e: code=e.code\n"
            "assert not any(m.startswith(('PySide6','pyqtgraph','cnnviz.qt')) for m in sys.modules), 'Qt loaded'\n"
            "sys.exit(code)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                            env={**os.environ, "CNNVIZ_OFFLINE": "1"})
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.splitlines()[0])["path"] == digit
