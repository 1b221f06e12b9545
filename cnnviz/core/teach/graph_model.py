"""The network as a directed graph of its stages, made from a real capture.

Every stage is a node (with its kind, output shape, parameter count and block), and every input a stage
consumed is an edge carrying that input's shape. A residual add has two incoming edges, one of them the
skip; an inception concat has one per branch. Nothing assumes a chain. (Kept apart from the layout and
the drawing, which both read it, so that none of them imports another in a circle.)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from cnnviz.core.engine.capture import Capture, capture
from cnnviz.core.engine.stages import group_of


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
