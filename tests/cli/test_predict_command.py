"""`cnnviz predict` on drawn digits saved as files of both polarities (the models themselves on drawn digits:
tests/core/test_drawn_digits.py)."""

from __future__ import annotations

import json

import pytest

from cnnviz.cli import main
from cnnviz.core.data.imageio import write_png
from cnnviz.core.data.strokes import demo_digit, render


@pytest.mark.parametrize("ink,paper", [(0, 255), (255, 0)])
def test_predict_command_on_drawn_digit_files_of_both_polarities(tmp_path, capsys, ink, paper):
    paths = []
    for digit in range(10):
        path = tmp_path / f"{digit}.png"
        write_png(path, render(demo_digit(digit), ink=ink, paper=paper))
        paths.append(str(path))
    for model in ("lenet5-mnist", "mnist-cnn-mnist"):
        assert main(["predict", *paths, "--model", model, "--json", "--device", "cpu"]) == 0
        lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
        assert [line["top"][0][0] for line in lines] == [str(d) for d in range(10)], model


@pytest.mark.parametrize("width,height,words", [
    (1, 1, "1x1 pixels, too small to classify"), (2, 2, "2x2 pixels, too small to classify"),
    (1_000_000, 1, "1000000x1 pixels, too small to classify"), (600, 5, "120 times wider than tall"),
])
def test_predict_refuses_a_degenerate_image_with_one_sentence(tmp_path, capfd, width, height, words):
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/hostile.py, a helper module
    from hostile import grey_png

    path = tmp_path / "strip.png"
    path.write_bytes(grey_png(width, height))
    assert main(["predict", str(path), "--model", "resnet18", "--untrained", "--device", "cpu"]) == 2
    out, err = capfd.readouterr()
    assert out == "" and err.startswith(f"cnnviz: error: strip.png is {width}x{height} pixels")
    assert words in err and err.count("\n") == 1


def test_predict_shows_a_tiny_image_with_a_note(tmp_path, capfd):
    import numpy as np

    path = tmp_path / "tiny.png"
    write_png(path, np.full((4, 4, 3), 90, np.uint8))
    assert main(["predict", str(path), "--model", "resnet18", "--untrained", "--json", "--device", "cpu"]) == 0
    out, err = capfd.readouterr()
    result = json.loads(out)
    assert err == "" and len(result["top"]) == 3
    assert any("enlarged about 64x" in note for note in result["notes"])
