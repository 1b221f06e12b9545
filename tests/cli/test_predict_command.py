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
