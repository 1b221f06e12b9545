"""The network as a graph of its stages, written as SVG, PNG or JSON: what ``cnnviz graph`` calls.

The parts live in their own modules (graph_model: the graph from a capture; graph_layout: the layered
layout; graph_drawing: SVG and PNG); this one adds the JSON form and the file writing, and keeps every
name importable from here.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from cnnviz.core.data.imageio import write_png
from cnnviz.core.errors import CnnvizError
from cnnviz.core.fileio import atomic_write_text
from cnnviz.core.teach.graph_drawing import MAX_PNG_PIXELS, MAX_PNG_SIDE, shape_text, to_png_array, to_svg
from cnnviz.core.teach.graph_layout import DUMMY_W, GAP, LAYER_H, MARGIN, NODE_H, NODE_W, Layout, layered_layout
from cnnviz.core.teach.graph_model import Edge, Graph, Node, model_graph, network_graph

__all__ = [
    "DUMMY_W", "FORMATS", "GAP", "LAYER_H", "MARGIN", "MAX_PNG_PIXELS", "MAX_PNG_SIDE", "NODE_H", "NODE_W",
    "Edge", "Graph", "GraphError", "Layout", "Node", "check_format", "layered_layout", "model_graph",
    "network_graph", "shape_text", "to_json", "to_png_array", "to_svg", "write_graph",
]

FORMATS = (".svg", ".png", ".json")


class GraphError(CnnvizError):
    """A graph cannot be written (an unknown file type, or a folder that refuses the file)."""


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
