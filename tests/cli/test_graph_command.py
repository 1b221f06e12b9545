"""``cnnviz graph``: the network as SVG, PNG or JSON, with the stages ``cnnviz summary`` lists."""

from __future__ import annotations

import json

import cv2
import pytest

from cnnviz.cli import main


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_graph_json_has_the_summary_stages_and_the_input(capsys, tmp_path):
    code, out, _ = run(capsys, "summary", "lenet5-mnist", "--json")
    stages = [s["name"] for s in json.loads(out)]
    path = tmp_path / "lenet.json"
    code, out, err = run(capsys, "graph", "lenet5-mnist", "--out", str(path))
    assert code == 0 and err == "" and "lenet.json" in out
    data = json.loads(path.read_text())
    assert set(data) == {"nodes", "edges"}
    assert [n["name"] for n in data["nodes"]] == ["input", *stages]
    assert data["nodes"][0]["shape"] == [1, 28, 28] and data["nodes"][0]["kind"] == "input"
    assert all({"id", "name", "kind", "shape", "x", "y"} <= set(n) for n in data["nodes"])
    assert data["edges"][:1] == [[0, 1]]


@pytest.mark.parametrize("suffix", [".svg", ".png"])
def test_graph_pictures_of_an_untrained_resnet(capsys, tmp_path, suffix):
    path = tmp_path / f"resnet{suffix}"
    code, _, _ = run(capsys, "graph", "resnet18", "--untrained", "--input-shape", "3,64,64", "--out", str(path))
    assert code == 0 and path.stat().st_size > 1000
    if suffix == ".png":
        assert cv2.imread(str(path)).shape[0] > 1000
    else:
        text = path.read_text()
        assert text.startswith("<svg") and "layer4.1.add" in text and "64\u00d716\u00d716" in text


def test_graph_refuses_an_unknown_file_type_in_one_line(capsys, tmp_path):
    code, _, err = run(capsys, "graph", "lenet5-mnist", "--out", str(tmp_path / "g.pdf"))
    assert code == 2 and err.count("\n") == 1 and ".svg, .png or .json" in err
    assert not (tmp_path / "g.pdf").exists()
