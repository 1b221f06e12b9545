"""The embedding map as a picture, and the class colours the command line and the app share.

Public API:

- ``CLASS_PALETTE``: RGB colours, one per class (Tableau 10, the 2016 palette Tableau designed to stay
  distinguishable with the common colour-vision deficiencies); ``class_colour(i)`` cycles it.
- ``map_frame(points, width, height, margin)``: the affine map from data to pixel coordinates, so a view can
  draw (and hit-test) with the same layout as the PNG.
- ``draw_map(emb, size=(900, 720), current=None) -> np.ndarray``: uint8 RGB (H, W, 3): points coloured by
  their true class, misclassified ones as crosses (shape, not only colour), the current input as a star,
  a legend and a caption saying how the star was placed.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from cnnviz.core.teach.embedding import METHOD_NAMES, EmbeddingMap, Placement

CLASS_PALETTE: tuple[tuple[int, int, int], ...] = (
    (78, 121, 167), (242, 142, 43), (225, 87, 89), (118, 183, 178), (89, 161, 79),
    (237, 201, 72), (176, 122, 161), (255, 157, 167), (156, 117, 95), (186, 176, 172))
BACKGROUND = (255, 255, 255)
INK = (30, 30, 30)
LEGEND_WIDTH = 150
_FONT = cv2.FONT_HERSHEY_SIMPLEX


def class_colour(label: int) -> tuple[int, int, int]:
    return CLASS_PALETTE[int(label) % len(CLASS_PALETTE)]


@dataclass(frozen=True)
class MapFrame:
    """Data (x, y) -> pixel (column, row), y pointing up; the same for the points and the star."""

    x0: float
    y0: float
    scale: float
    left: int
    bottom: int

    def to_pixels(self, points: np.ndarray) -> np.ndarray:
        p = np.asarray(points, np.float64).reshape(-1, 2)
        cols = self.left + (p[:, 0] - self.x0) * self.scale
        rows = self.bottom - (p[:, 1] - self.y0) * self.scale
        return np.stack([cols, rows], axis=1)


def map_frame(points: np.ndarray, width: int, height: int, margin: int = 24) -> MapFrame:
    """Fit the points into a width x height area (equal scale on both axes: distances mean the same)."""
    p = np.asarray(points, np.float64).reshape(-1, 2)
    lo, hi = p.min(0), p.max(0)
    span = np.maximum(hi - lo, 1e-9)
    scale = float(min((width - 2 * margin) / span[0], (height - 2 * margin) / span[1]))
    used = span * scale
    left = int(round(margin + (width - 2 * margin - used[0]) / 2))
    bottom = int(round(height - margin - (height - 2 * margin - used[1]) / 2))
    return MapFrame(float(lo[0]), float(lo[1]), scale, left, bottom)


def _star(centre: tuple[float, float], outer: float) -> np.ndarray:
    angles = -np.pi / 2 + np.arange(10) * np.pi / 5
    radii = np.where(np.arange(10) % 2 == 0, outer, outer * 0.45)
    pts = np.stack([centre[0] + radii * np.cos(angles), centre[1] + radii * np.sin(angles)], axis=1)
    return np.round(pts).astype(np.int32)


def draw_map(emb: EmbeddingMap, size: tuple[int, int] = (900, 720), current: Placement | None = None,
             radius: int = 3) -> np.ndarray:
    """The map as uint8 RGB (height, width, 3): plot area on the left, legend on the right."""
    width, height = size
    plot_w = max(64, width - LEGEND_WIDTH)
    image = np.full((height, width, 3), BACKGROUND, np.uint8)
    top = 34
    points = emb.points if current is None else np.vstack([emb.points, np.array([current.point])])
    frame = map_frame(points, plot_w, height - top)
    pixels = np.round(frame.to_pixels(emb.points)).astype(np.int64) + np.array([0, top])
    wrong = emb.misclassified
    order = np.argsort(wrong, kind="stable")  # crosses on top, where they can be seen
    for i in order:
        c, r = int(pixels[i, 0]), int(pixels[i, 1])
        colour = class_colour(emb.labels[i])
        if wrong[i]:
            cv2.drawMarker(image, (c, r), INK, cv2.MARKER_TILTED_CROSS, 4 * radius + 3, 5, cv2.LINE_AA)
            cv2.drawMarker(image, (c, r), colour, cv2.MARKER_TILTED_CROSS, 4 * radius, 2, cv2.LINE_AA)
        else:
            cv2.circle(image, (c, r), radius, colour, -1, cv2.LINE_AA)
    caption = f"{emb.stage}, {METHOD_NAMES.get(emb.method, emb.method)}: {len(emb.points)} samples"
    if wrong.any():
        caption += f", {int(wrong.sum())} misclassified (x)"
    if current is not None:
        cc, cr = frame.to_pixels(np.array([current.point]))[0] + np.array([0, top])
        star = _star((cc, cr), 14)
        cv2.fillPoly(image, [star], (255, 215, 0), cv2.LINE_AA)
        cv2.polylines(image, [star], True, INK, 2, cv2.LINE_AA)
        caption += ("; star: the input, exactly" if current.how == "exact"
                    else f"; star: the input, placed by its {len(current.neighbours)} nearest samples")
    cv2.putText(image, caption, (10, 22), _FONT, 0.5, INK, 1, cv2.LINE_AA)
    _legend(image, emb, plot_w)
    return image


def _legend(image: np.ndarray, emb: EmbeddingMap, left: int) -> None:
    present = sorted({int(v) for v in emb.labels})
    shown = present[: (image.shape[0] - 60) // 20]
    for row, label in enumerate(shown):
        y = 50 + row * 20
        cv2.circle(image, (left + 14, y), 6, class_colour(label), -1, cv2.LINE_AA)
        name = emb.class_names[label] if label < len(emb.class_names) else f"class {label}"
        cv2.putText(image, name[:16], (left + 28, y + 5), _FONT, 0.45, INK, 1, cv2.LINE_AA)
    if len(shown) < len(present):
        cv2.putText(image, f"+{len(present) - len(shown)} more", (left + 8, 50 + len(shown) * 20 + 5), _FONT,
                    0.45, INK, 1, cv2.LINE_AA)
