"""The network as a graph: skips and branches as the edges they are, a layout, SVG, PNG and JSON."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import cv2
import pytest
import torch
from torch import nn

import cnnviz
from cnnviz.core.engine.capture import capture
from cnnviz.core.engine.summary import summarize
from cnnviz.core.teach.graph import (
    GraphError,
    layered_layout,
    model_graph,
    network_graph,
    to_json,
    to_png_array,
    to_svg,
    write_graph,
)


@pytest.fixture(scope="module")
def resnet18():
    return cnnviz.load_model("resnet18", "cpu", pretrained=False)


@pytest.fixture(scope="module")
def resnet_graph(resnet18):
    return model_graph(resnet18, (3, 224, 224))


def _ancestors(graph, node_id: int) -> set[int]:
    found, pending = {node_id}, [node_id]
    while pending:
        for p in graph.predecessors(pending.pop()):
            if p not in found:
                found.add(p)
                pending.append(p)
    return found


def test_resnet18_has_every_summary_stage_and_eight_residual_adds(resnet18, resnet_graph):
    graph = resnet_graph
    names = [n.name for n in graph.nodes]
    assert names[0] == "input" and graph.nodes[0].shape == (3, 224, 224)
    assert [s.name for s in summarize(resnet18, (3, 224, 224)).stages] == names[1:]
    adds = [n for n in graph.nodes if n.kind == "add"]
    assert len(adds) == 8
    identity = 0
    for add in adds:
        sources = graph.predecessors(add.id)
        assert len(sources) == 2
        fork = max(_ancestors(graph, sources[0]) & _ancestors(graph, sources[1]))  # the block's input
        bypassed = {main: {n for n in _ancestors(graph, main) if n > fork} - _ancestors(graph, skip)
                    for main, skip in (sources, sources[::-1])}
        main = max(bypassed, key=lambda n: len(bypassed[n]))
        skip = next(n for n in sources if n != main)
        assert graph.nodes[main].name.endswith(".bn2") and len(bypassed[main]) >= 3  # the skip passes them by
        if not graph.nodes[skip].name.endswith("downsample.1"):
            assert skip == fork and add.id - skip - 1 >= 3  # an identity skip: one edge over them
            identity += 1
        assert {e.shape for e in graph.edges if e.dst == add.id} == {add.shape}
    assert identity == 5  # the three others go through a 1x1 downsample conv
    conv1 = graph.node("layer1.0.conv1")
    assert conv1.kind == "conv" and conv1.shape == (64, 56, 56) and conv1.params == 64 * 64 * 9
    assert conv1.group == "layer1.0" and set(graph.blocks["layer1"]) >= set(graph.blocks["layer1.0"])


def test_googlenet_concats_join_four_branches():
    model = cnnviz.load_model("googlenet", "cpu", pretrained=False)
    graph = model_graph(model, (3, 224, 224))
    concats = [n for n in graph.nodes if n.kind == "concat"]
    assert len(concats) == 9
    for cat in concats:
        branches = graph.predecessors(cat.id)
        assert len(branches) == 4
        assert sum(graph.nodes[b].shape[0] for b in branches) == cat.shape[0]
        # the four branches start at one node: the block's input fans out four ways
        block = set(graph.blocks[cat.group])
        entries = [n for n in block if any(p not in block for p in graph.predecessors(n))]
        assert len(entries) == 4 and len({p for n in entries for p in graph.predecessors(n)}) == 1
    layout = layered_layout(graph)
    cat = graph.node("inception3a.cat")
    firsts = [graph.node(n) for n in ("inception3a.branch1.conv", "inception3a.branch2.0.conv",
                                      "inception3a.branch3.0.conv", "inception3a.branch4.0")]
    assert len({layout.layer[n.id] for n in firsts}) == 1  # side by side in one layer...
    xs = sorted(layout.x[n.id] for n in firsts)
    assert all(b - a >= layout.node_width for a, b in zip(xs, xs[1:], strict=False))  # ...without overlapping
    assert all(layout.layer[cat.id] > layout.layer[p] for p in graph.predecessors(cat.id))


def test_nodes_in_execution_order_and_edges_point_forward(resnet18, resnet_graph):
    result = capture(resnet18, torch.zeros(1, 3, 224, 224))
    assert [n.name for n in resnet_graph.nodes[1:]] == [s.name for s in result.stages]
    assert [n.id for n in resnet_graph.nodes] == list(range(len(resnet_graph.nodes)))
    assert all(e.src < e.dst for e in resnet_graph.edges)


def test_json_shape(resnet_graph):
    data = json.loads(json.dumps(to_json(resnet_graph)))
    assert set(data) == {"nodes", "edges"}
    assert data["nodes"][0] == {"id": 0, "name": "input", "kind": "input", "shape": [3, 224, 224], "params": 0,
                                "group": ""}
    for node in data["nodes"]:
        assert {"id", "name", "kind", "shape"} <= set(node) and isinstance(node["shape"], list)
    ids = {n["id"] for n in data["nodes"]}
    assert all(len(e) == 2 and e[0] in ids and e[1] in ids for e in data["edges"])
    assert len(data["edges"]) == len(resnet_graph.edges) == len(data["nodes"]) - 1 + 8  # a chain plus 8 skips


def test_layout_keeps_boxes_apart_and_a_chain_straight():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Flatten(), nn.Linear(2 * 6 * 6, 3))
    graph = network_graph(capture(model.eval(), torch.zeros(1, 1, 8, 8)))
    layout = layered_layout(graph)
    assert len(set(layout.x)) == 1 and list(layout.layer) == list(range(len(graph.nodes)))
    assert all(b > a for a, b in zip(layout.y, layout.y[1:], strict=False))
    for node in graph.nodes:
        assert 0 < layout.x[node.id] - layout.node_width / 2 and layout.x[node.id] < layout.width


def test_layout_of_resnet_has_no_overlapping_boxes(resnet_graph):
    layout = layered_layout(resnet_graph)
    by_layer: dict[int, list[float]] = {}
    for node in resnet_graph.nodes:
        by_layer.setdefault(layout.layer[node.id], []).append(layout.x[node.id])
    for xs in by_layer.values():
        xs.sort()
        assert all(b - a >= layout.node_width for a, b in zip(xs, xs[1:], strict=False))
    for e in resnet_graph.edges:
        route = layout.routes[(e.src, e.dst)]
        assert route[0][1] < route[-1][1] and len(route) == layout.layer[e.dst] - layout.layer[e.src] + 1


def test_svg_and_png_and_json_files_are_written(tmp_path, resnet_graph):
    layout = layered_layout(resnet_graph)
    svg = to_svg(resnet_graph, layout)
    root = ET.fromstring(svg)
    ns = "{http://www.w3.org/2000/svg}"
    assert len(root.findall(f"{ns}g[@class='node']")) == len(resnet_graph.nodes)
    assert len(root.findall(f"{ns}g[@class='edge']")) == len(resnet_graph.edges)
    assert "64\u00d756\u00d756" in svg and "layer1.0.add" in svg and "block" in svg
    for suffix in (".svg", ".png", ".json"):
        path = write_graph(resnet_graph, tmp_path / f"g{suffix}", layout)
        assert path.stat().st_size > 1000
    image = cv2.imread(str(tmp_path / "g.png"))
    assert image.shape[:2] == (int(layout.height), int(layout.width))  # ResNet-18 fits unscaled
    assert image.min() < 100  # something is drawn
    assert to_png_array(resnet_graph, layout).shape[2] == 3
    assert json.loads((tmp_path / "g.json").read_text())["nodes"][1]["name"] == "conv1"
    with pytest.raises(GraphError, match=r"\.svg, \.png or \.json"):
        write_graph(resnet_graph, tmp_path / "g.pdf", layout)


def test_a_stage_whose_input_was_not_captured_still_joins_the_graph():
    class Odd(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(1, 1, 1)

        def forward(self, x):  # noqa: ANN001, ANN201
            return self.conv(x) + x

    graph = network_graph(capture(Odd().eval(), torch.zeros(1, 1, 4, 4)))
    add = next(n for n in graph.nodes if n.kind == "add")
    assert sorted(graph.predecessors(add.id)) == [0, graph.node("conv").id]
