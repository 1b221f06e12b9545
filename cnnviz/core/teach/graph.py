"""The network as a directed graph of its stages, laid out in layers and drawn as SVG or PNG.

The graph comes from a real capture: every stage is a node (with its kind, output shape, parameter
count and block), and every input a stage consumed is an edge carrying that input's shape. A
residual add has two incoming edges, one of them the skip; an inception concat has one per branch.
Nothing assumes a chain.

The layout is a pure-Python layered (Sugiyama-style) one: longest-path layers, dummy vertices on
edges that span several layers, barycentre ordering sweeps that keep the ordering with the fewest
crossings, then x positions pulled towards each vertex's neighbours. It needs no Graphviz binary
(a clean machine has none), is deterministic, and keeps a chain of stages on one straight column.
"""

from __future__ import annotations

import html
import json
import os
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import torch
from torch import nn

from cnnviz.core.data.imageio import write_png
from cnnviz.core.engine.capture import Capture, capture
from cnnviz.core.engine.stages import group_of
from cnnviz.core.errors import CnnvizError
from cnnviz.core.fileio import atomic_write_text

FORMATS = (".svg", ".png", ".json")


class GraphError(CnnvizError):
    """A graph cannot be written (an unknown file type, or a folder that refuses the file)."""


@dataclass(frozen=True)
class Node:
    id: int
    name: str
    kind: str
    shape: tuple[int, ...]  # output shape of one sample
    params: int  # the stage's own parameters (not its children's)
    group: str  # the block it belongs to ('' for top-level stages), as stages.group_of


@dataclass(frozen=True)
class Edge:
    src: int
    dst: int
    shape: tuple[int, ...]  # the tensor the edge carries: the source's output shape


@dataclass(frozen=True)
class Graph:
    """Nodes in execution order (``nodes[i].id == i``; 0 is the model input), edges from earlier to later."""

    nodes: tuple[Node, ...]
    edges: tuple[Edge, ...]

    def node(self, name: str) -> Node:
        for node in self.nodes:
            if node.name == name:
                return node
        raise KeyError(name)

    def predecessors(self, node_id: int) -> list[int]:
        return [e.src for e in self.edges if e.dst == node_id]

    def successors(self, node_id: int) -> list[int]:
        return [e.dst for e in self.edges if e.src == node_id]

    @property
    def blocks(self) -> dict[str, tuple[int, ...]]:
        """Every block ('layer1', 'layer1.0', ...) and the ids of the nodes inside it, nested blocks included."""
        found: dict[str, list[int]] = {}
        for node in self.nodes:
            group = node.group
            while group:
                found.setdefault(group, []).append(node.id)
                group = group_of(group)
        return {name: tuple(ids) for name, ids in found.items()}


def network_graph(result: Capture) -> Graph:
    """The graph of one captured forward pass: the input, then every stage in the order it ran."""
    nodes = [Node(0, "input", "input", tuple(result.input.shape[1:]), 0, "")]
    edges: list[Edge] = []
    ids = {"input": 0}
    for stage in result.stages:
        node_id = len(nodes)
        sources = [ids[name] for name in dict.fromkeys(stage.inputs) if name in ids]
        if not sources:  # its input was not a tensor stage (plumbing fx does not show): follow the run order
            sources = [node_id - 1]
        for src in sources:
            edges.append(Edge(src, node_id, nodes[src].shape))
        nodes.append(Node(node_id, stage.name, stage.kind, stage.shape, _params(stage.module), group_of(stage.name)))
        ids[stage.name] = node_id
    return Graph(tuple(nodes), tuple(edges))


def model_graph(model: nn.Module, input_shape: Sequence[int]) -> Graph:
    """Capture a zero input of ``input_shape`` (C, H, W), as ``cnnviz summary`` does, and make its graph."""
    param = next(model.parameters(), None)
    device = param.device if param is not None else torch.device("cpu")
    return network_graph(capture(model, torch.zeros((1, *input_shape), device=device)))


def _params(module: nn.Module | None) -> int:
    return 0 if module is None else sum(p.numel() for p in module.parameters(recurse=False))


def to_json(graph: Graph, layout: Layout | None = None) -> dict:
    """``{"nodes": [{"id", "name", "kind", "shape", "params", "group"[, "x", "y"]}], "edges": [[src, dst]]}``."""
    nodes = []
    for node in graph.nodes:
        item: dict = {"id": node.id, "name": node.name, "kind": node.kind, "shape": list(node.shape),
                      "params": node.params, "group": node.group}
        if layout is not None:
            item["x"], item["y"] = round(layout.x[node.id], 2), round(layout.y[node.id], 2)
        nodes.append(item)
    return {"nodes": nodes, "edges": [[e.src, e.dst] for e in graph.edges]}


# ---- layout -------------------------------------------------------------------------------------
NODE_W = 200.0
NODE_H = 52.0
LAYER_H = 96.0  # from one layer's box centres to the next: room for the edge's shape label
DUMMY_W = 14.0  # the width an edge passing through a layer takes there
GAP = 36.0  # between two boxes side by side
MARGIN = 28.0


@dataclass(frozen=True)
class Layout:
    """Box centres per node id, each edge's polyline (bottom of its source to the top of its target)."""

    x: tuple[float, ...]
    y: tuple[float, ...]
    layer: tuple[int, ...]
    width: float
    height: float
    routes: dict[tuple[int, int], tuple[tuple[float, float], ...]] = field(default_factory=dict)
    node_width: float = NODE_W
    node_height: float = NODE_H


def layered_layout(graph: Graph, sweeps: int = 8) -> Layout:
    """Longest-path layers, barycentre ordering with dummy vertices, x pulled towards neighbours."""
    n = len(graph.nodes)
    preds: list[list[int]] = [[] for _ in range(n)]
    for e in graph.edges:
        preds[e.dst].append(e.src)
    layer = [0] * n
    for v in range(n):
        layer[v] = 1 + max((layer[u] for u in preds[v] if u < v), default=-1)
    # the vertices: real nodes, then one dummy per layer an edge passes through
    vlayer = list(layer)
    up: list[list[int]] = [[] for _ in range(n)]  # neighbours in the layer above
    down: list[list[int]] = [[] for _ in range(n)]  # neighbours in the layer below
    chains: dict[tuple[int, int], list[int]] = {}
    for e in graph.edges:
        chain = [e.src]
        for lay in range(layer[e.src] + 1, layer[e.dst]):
            vlayer.append(lay)
            up.append([])
            down.append([])
            chain.append(len(vlayer) - 1)
        chain.append(e.dst)
        for a, b in zip(chain, chain[1:], strict=False):
            if vlayer[b] > vlayer[a]:
                down[a].append(b)
                up[b].append(a)
        chains[(e.src, e.dst)] = chain
    count = max(vlayer) + 1 if vlayer else 0
    layers: list[list[int]] = [[] for _ in range(count)]
    for v, lay in enumerate(vlayer):
        layers[lay].append(v)
    order = _order(layers, up, down, sweeps)
    widths = [NODE_W if v < n else DUMMY_W for v in range(len(vlayer))]
    xs = _coordinates(order, up, down, widths, n)
    left = min((xs[v] - widths[v] / 2 for v in range(len(vlayer))), default=0.0)
    xs = [x - left + MARGIN for x in xs]
    ys = [MARGIN + NODE_H / 2 + lay * LAYER_H for lay in vlayer]
    routes: dict[tuple[int, int], tuple[tuple[float, float], ...]] = {}
    for key, chain in chains.items():
        src, dst = key
        points = [(xs[src], ys[src] + NODE_H / 2)] + [(xs[d], ys[d]) for d in chain[1:-1]]
        points.append((xs[dst], ys[dst] - NODE_H / 2))
        routes[key] = tuple(points)
    width = max((xs[v] + widths[v] / 2 for v in range(len(vlayer))), default=0.0) + MARGIN
    height = MARGIN * 2 + NODE_H + max(count - 1, 0) * LAYER_H
    return Layout(tuple(xs[:n]), tuple(ys[:n]), tuple(layer), width, height, routes)


def _order(layers: list[list[int]], up: list[list[int]], down: list[list[int]], sweeps: int) -> list[list[int]]:
    """Barycentre sweeps down and up; the ordering with the fewest crossings seen wins."""
    order = [list(vs) for vs in layers]
    position = [0] * len(up)

    def number(lay: list[int]) -> None:
        for i, v in enumerate(lay):
            position[v] = i

    for lay in order:
        number(lay)
    best = [list(vs) for vs in order]
    best_crossings = _crossings(order, down, position)
    for sweep in range(sweeps * 2):
        downward = sweep % 2 == 0
        indices = range(1, len(order)) if downward else range(len(order) - 2, -1, -1)
        for i in indices:
            neighbours = up if downward else down
            lay = order[i]

            def barycentre(v: int, neighbours: list[list[int]] = neighbours) -> tuple[float, int]:
                near = neighbours[v]
                if not near:
                    return float(position[v]), position[v]
                return sum(position[u] for u in near) / len(near), position[v]

            lay.sort(key=barycentre)
            number(lay)
        crossings = _crossings(order, down, position)
        if crossings < best_crossings:
            best, best_crossings = [list(vs) for vs in order], crossings
    return best


def _crossings(order: list[list[int]], down: list[list[int]], position: list[int]) -> int:
    """Edge crossings between consecutive layers (inversions of the lower ends, counted by bisection)."""
    total = 0
    for lay in order[:-1]:
        ends = [position[w] for v in lay for w in sorted(down[v], key=lambda w: position[w])]
        seen: list[int] = []
        for end in ends:
            index = bisect_right(seen, end)
            total += len(seen) - index
            seen.insert(index, end)
    return total


def _coordinates(order: list[list[int]], up: list[list[int]], down: list[list[int]], widths: list[float],
                 real: int) -> list[float]:
    """x per vertex: packed per layer, then pulled towards the neighbours above (and below), keeping the order."""
    xs = [0.0] * len(widths)
    for lay in order:
        x = 0.0
        for i, v in enumerate(lay):
            if i:
                x += _separation(lay[i - 1], v, widths, real)
            xs[v] = x
        shift = x / 2
        for v in lay:
            xs[v] -= shift
    passes = [(range(1, len(order)), up), (range(len(order) - 2, -1, -1), down), (range(1, len(order)), up)]
    for indices, neighbours in passes:
        for i in indices:
            lay = order[i]
            wanted = [_pull(v, neighbours[v], xs, real) for v in lay]
            _place(lay, wanted, xs, widths, real)
    return xs


def _pull(v: int, near: list[int], xs: list[float], real: int) -> float:
    """Where ``v`` would like to be: its neighbours' mean x; a box follows boxes rather than passing edges."""
    if not near:
        return xs[v]
    weights = [1.0 if (u < real or v >= real) else 0.05 for u in near]
    return sum(w * xs[u] for w, u in zip(weights, near, strict=True)) / sum(weights)


def _separation(a: int, b: int, widths: list[float], real: int) -> float:
    gap = GAP if a < real and b < real else GAP / 3
    return (widths[a] + widths[b]) / 2 + gap


def _place(lay: list[int], wanted: list[float], xs: list[float], widths: list[float], real: int) -> None:
    """The mean of a left-to-right and a right-to-left packing (both keep the gaps, so their mean does)."""
    k = len(lay)
    left = list(wanted)
    for i in range(1, k):
        left[i] = max(left[i], left[i - 1] + _separation(lay[i - 1], lay[i], widths, real))
    right = list(wanted)
    for i in range(k - 2, -1, -1):
        right[i] = min(right[i], right[i + 1] - _separation(lay[i], lay[i + 1], widths, real))
    placed = [(a + b) / 2 for a, b in zip(left, right, strict=True)]
    # then the layer moves as one so that its boxes, not the edges passing by, end up where they wanted
    weights = [1.0 if v < real else 0.05 for v in lay]
    moves = [w * (want - x) for w, want, x in zip(weights, wanted, placed, strict=True)]
    shift = sum(moves) / sum(weights) if lay else 0.0
    for v, x in zip(lay, placed, strict=True):
        xs[v] = x + shift


# ---- drawing ------------------------------------------------------------------------------------
_COLOURS = {  # kind -> fill (RGB)
    "input": (224, 224, 224), "conv": (191, 219, 254), "norm": (221, 214, 254), "relu": (254, 215, 170),
    "activation": (254, 215, 170), "pool": (187, 247, 208), "linear": (253, 186, 186), "add": (254, 240, 138),
    "concat": (254, 240, 138), "mul": (254, 240, 138), "softmax": (251, 207, 232), "flatten": (229, 231, 235),
    "reshape": (229, 231, 235), "dropout": (243, 244, 246),
}
_DEFAULT_COLOUR = (243, 244, 246)


def shape_text(shape: Sequence[int], times: str = "\u00d7") -> str:
    return times.join(str(d) for d in shape) if shape else "scalar"


def _short(text: str, limit: int = 30) -> str:
    return text if len(text) <= limit else "\u2026" + text[-(limit - 1):]


def _block_boxes(graph: Graph, layout: Layout) -> list[tuple[str, float, float, float, float]]:
    """(name, x0, y0, x1, y1) per block, outer blocks drawn first and a little larger than the ones inside."""
    boxes = []
    for name, ids in graph.blocks.items():
        depth_below = max(n.group.count(".") - name.count(".") for n in (graph.nodes[i] for i in ids))
        pad = 8.0 + 6.0 * depth_below
        x0 = min(layout.x[i] for i in ids) - NODE_W / 2 - pad
        x1 = max(layout.x[i] for i in ids) + NODE_W / 2 + pad
        y0 = min(layout.y[i] for i in ids) - NODE_H / 2 - 3 - 13 * (depth_below + 1)  # a label line per level
        y1 = max(layout.y[i] for i in ids) + NODE_H / 2 + pad
        boxes.append((name, x0, y0, x1, y1))
    boxes.sort(key=lambda b: b[0].count("."))
    return boxes


def _node_lines(node: Node, times: str) -> tuple[str, str, str]:
    params = f"{node.params:,} params" if node.params else ""
    return _short(node.name), f"{node.kind} \u00b7 {shape_text(node.shape, times)}", params


def _label_segment(points: tuple[tuple[float, float], ...]) -> tuple[tuple[float, float], tuple[float, float]]:
    """The segment an edge's shape label sits beside: the middle one, clear of the fan-outs and merges at its ends."""
    i = (len(points) - 2) // 2
    return points[i], points[i + 1]


def to_svg(graph: Graph, layout: Layout | None = None) -> str:
    """A hand-written SVG: blocks as dashed frames, stages as boxes, edges as arrows labelled with their shape."""
    layout = layout or layered_layout(graph)
    esc = html.escape
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{layout.width:.0f}" height="{layout.height:.0f}" '
           f'viewBox="0 0 {layout.width:.0f} {layout.height:.0f}" font-family="sans-serif">',
           '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" '
           'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#555"/></marker></defs>',
           f'<rect width="{layout.width:.0f}" height="{layout.height:.0f}" fill="white"/>']
    for name, x0, y0, x1, y1 in _block_boxes(graph, layout):
        out.append(f'<g class="block"><rect x="{x0:.1f}" y="{y0:.1f}" width="{x1 - x0:.1f}" height="{y1 - y0:.1f}" '
                   f'rx="8" fill="none" stroke="#9ca3af" stroke-dasharray="5,4"/>'
                   f'<text x="{x0 + 6:.1f}" y="{y0 + 13:.1f}" font-size="11" fill="#6b7280">{esc(name)}</text></g>')
    for e in graph.edges:
        points = layout.routes[(e.src, e.dst)]
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
        (ax, ay), (bx, by) = _label_segment(points)
        out.append(f'<g class="edge" data-src="{e.src}" data-dst="{e.dst}"><polyline points="{path}" fill="none" '
                   f'stroke="#555" stroke-width="1.3" marker-end="url(#arrow)"/>'
                   f'<text x="{(ax + bx) / 2 + 5:.1f}" y="{(ay + by) / 2 + 4:.1f}" font-size="10" '
                   f'fill="#374151">{esc(shape_text(e.shape))}</text></g>')
    for node in graph.nodes:
        x, y = layout.x[node.id] - NODE_W / 2, layout.y[node.id] - NODE_H / 2
        fill = "#{:02x}{:02x}{:02x}".format(*_COLOURS.get(node.kind, _DEFAULT_COLOUR))
        title, detail, params = _node_lines(node, "\u00d7")
        out.append(f'<g class="node" data-id="{node.id}" data-kind="{esc(node.kind)}"><title>{esc(node.name)}</title>'
                   f'<rect x="{x:.1f}" y="{y:.1f}" width="{NODE_W:.0f}" height="{NODE_H:.0f}" rx="6" fill="{fill}" '
                   f'stroke="#374151"/>'
                   f'<text x="{x + 8:.1f}" y="{y + 16:.1f}" font-size="12" font-weight="bold">{esc(title)}</text>'
                   f'<text x="{x + 8:.1f}" y="{y + 31:.1f}" font-size="11">{esc(detail)}</text>'
                   f'<text x="{x + 8:.1f}" y="{y + 45:.1f}" font-size="10" fill="#4b5563">{esc(params)}</text></g>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


MAX_PNG_SIDE = 30000
MAX_PNG_PIXELS = 60_000_000


def to_png_array(graph: Graph, layout: Layout | None = None) -> np.ndarray:
    """The same drawing rasterised with OpenCV: an (H, W, 3) RGB uint8 image (scaled down if very large)."""
    layout = layout or layered_layout(graph)
    scale = min(1.0, MAX_PNG_SIDE / layout.width, MAX_PNG_SIDE / layout.height,
                (MAX_PNG_PIXELS / (layout.width * layout.height)) ** 0.5)
    w, h = max(1, int(layout.width * scale)), max(1, int(layout.height * scale))
    image = np.full((h, w, 3), 255, np.uint8)
    font = cv2.FONT_HERSHEY_SIMPLEX

    def p(x: float, y: float) -> tuple[int, int]:
        return int(round(x * scale)), int(round(y * scale))

    def text(s: str, x: float, y: float, size: float, colour: tuple[int, int, int], thick: int = 1) -> None:
        s = s.encode("ascii", "replace").decode("ascii")
        cv2.putText(image, s, p(x, y), font, size * scale, colour, thick, cv2.LINE_AA)

    for name, x0, y0, x1, y1 in _block_boxes(graph, layout):
        cv2.rectangle(image, p(x0, y0), p(x1, y1), (156, 163, 175), 1, cv2.LINE_AA)
        text(name, x0 + 6, y0 + 13, 0.38, (107, 114, 128))
    for e in graph.edges:
        points = layout.routes[(e.src, e.dst)]
        pts = np.array([p(x, y) for x, y in points], np.int32)
        if len(pts) > 2:
            cv2.polylines(image, [pts[:-1]], False, (85, 85, 85), 1, cv2.LINE_AA)
        cv2.arrowedLine(image, tuple(int(v) for v in pts[-2]), tuple(int(v) for v in pts[-1]), (85, 85, 85), 1,
                        cv2.LINE_AA, tipLength=min(0.5, 8 * scale / max(1.0, float(np.hypot(*(pts[-1] - pts[-2]))))))
        (ax, ay), (bx, by) = _label_segment(points)
        text(shape_text(e.shape, "x"), (ax + bx) / 2 + 5, (ay + by) / 2 + 4, 0.34, (55, 65, 81))
    for node in graph.nodes:
        x, y = layout.x[node.id] - NODE_W / 2, layout.y[node.id] - NODE_H / 2
        cv2.rectangle(image, p(x, y), p(x + NODE_W, y + NODE_H), _COLOURS.get(node.kind, _DEFAULT_COLOUR), -1)
        cv2.rectangle(image, p(x, y), p(x + NODE_W, y + NODE_H), (55, 65, 81), 1, cv2.LINE_AA)
        title, detail, params = _node_lines(node, "x")
        text(title.replace("\u2026", "..."), x + 8, y + 16, 0.42, (0, 0, 0), 1)
        text(detail.replace("\u00b7", "-"), x + 8, y + 31, 0.38, (17, 24, 39))
        text(params, x + 8, y + 45, 0.34, (75, 85, 99))
    return image


def check_format(path: str | Path) -> str:
    """The file type ``path`` asks for (.svg, .png or .json), or a GraphError naming the ones there are."""
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise GraphError(f"{Path(path).name} is not a graph file: the name must end in .svg, .png or .json.")
    return suffix


def write_graph(graph: Graph, path: str | Path, layout: Layout | None = None) -> Path:
    """Write the graph as SVG, PNG or JSON (chosen by the file name; JSON holds the layout's x, y too)."""
    path = Path(path)
    suffix = check_format(path)
    layout = layout or layered_layout(graph)
    if suffix == ".png":
        write_png(path, to_png_array(graph, layout))
        return path
    text = to_svg(graph, layout) if suffix == ".svg" else json.dumps(to_json(graph, layout), indent=1) + "\n"
    try:
        atomic_write_text(path, text)
        umask = os.umask(0)
        os.umask(umask)
        path.chmod(0o666 & ~umask)  # a picture to share, not the private file a temporary one starts as
    except OSError as exc:
        raise GraphError(f"Cannot write {path} ({exc.strerror or exc}); choose another folder.") from None
    return path
