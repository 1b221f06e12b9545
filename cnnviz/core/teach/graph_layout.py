"""A pure-Python layered (Sugiyama-style) layout of the network graph.

Longest-path layers, dummy vertices on edges that span several layers, barycentre ordering sweeps that
keep the ordering with the fewest crossings, then x positions pulled towards each vertex's neighbours.
It needs no Graphviz binary (a clean machine has none), is deterministic, and keeps a chain of stages on
one straight column.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field

from cnnviz.core.teach.graph_model import Graph

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
