"""The network graph drawn: a hand-written SVG, and the same picture rasterised with OpenCV for PNG.

Blocks are dashed frames, stages coloured boxes by kind, edges arrows labelled with the shape they carry.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

import cv2
import numpy as np

from cnnviz.core.teach.graph_layout import NODE_H, NODE_W, Layout, layered_layout
from cnnviz.core.teach.graph_model import Graph, Node

_COLOURS = {  # kind -> fill (RGB)
    "input": (224, 224, 224), "conv": (191, 219, 254), "norm": (221, 214, 254), "relu": (254, 215, 170),
    "activation": (254, 215, 170), "pool": (187, 247, 208), "linear": (253, 186, 186), "add": (254, 240, 138),
    "concat": (254, 240, 138), "mul": (254, 240, 138), "softmax": (251, 207, 232), "flatten": (229, 231, 235),
    "reshape": (229, 231, 235), "dropout": (243, 244, 246),
}
_DEFAULT_COLOUR = (243, 244, 246)


def kind_colour(kind: str) -> tuple[int, int, int]:
    """The fill (RGB) of a stage of ``kind``: the app's graph view uses the same colours as the files."""
    return _COLOURS.get(kind, _DEFAULT_COLOUR)


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
