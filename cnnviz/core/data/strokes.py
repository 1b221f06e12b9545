"""Digits as pen strokes, rendered the way the app's canvas renders them.

Used by ``--draw-demo`` and to build drawn-digit test sets: the same round-capped,
anti-aliased strokes a mouse makes, in many styles (thickness, size, position, slant,
polarity), so that tests check what users actually draw rather than MNIST digits.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

Point = tuple[float, float]
Stroke = list[Point]


def _arc(cx: float, cy: float, rx: float, ry: float, start: float, end: float, n: int = 24) -> Stroke:
    return [(cx + rx * math.cos(math.radians(a)), cy + ry * math.sin(math.radians(a)))
            for a in np.linspace(start, end, n)]


#: Each digit in a unit box (x right, y down), as a list of strokes.
TEMPLATES: dict[int, list[Stroke]] = {
    0: [_arc(0.5, 0.5, 0.3, 0.42, 0, 360, 40)],
    1: [[(0.35, 0.25), (0.55, 0.08), (0.55, 0.92)]],
    2: [_arc(0.5, 0.32, 0.28, 0.24, 200, 360, 16) + [(0.74, 0.45), (0.25, 0.92), (0.8, 0.92)]],
    3: [_arc(0.48, 0.3, 0.25, 0.21, 200, 450, 20) + _arc(0.48, 0.7, 0.28, 0.22, 270, 520, 20)],
    4: [[(0.62, 0.92), (0.62, 0.08), (0.18, 0.64), (0.82, 0.64)]],
    5: [[(0.75, 0.1), (0.3, 0.1), (0.26, 0.46)] + _arc(0.48, 0.66, 0.28, 0.26, 230, 505, 22)],
    6: [[(0.68, 0.1), (0.38, 0.4)] + _arc(0.5, 0.68, 0.26, 0.24, 200, 560, 30)],
    7: [[(0.2, 0.1), (0.8, 0.1), (0.42, 0.92)]],
    8: [_arc(0.5, 0.29, 0.21, 0.2, 90, 450, 28), _arc(0.5, 0.7, 0.26, 0.22, -90, 270, 30)],
    9: [_arc(0.5, 0.32, 0.24, 0.22, 0, 360, 28), [(0.74, 0.32), (0.66, 0.92)]],
}


#: Other common ways of writing some digits (a plain 1, a crossed 7, an open 4, a curly 9, ...).
ALTERNATES: dict[int, list[list[Stroke]]] = {
    1: [[[(0.5, 0.08), (0.5, 0.92)]], [[(0.3, 0.25), (0.55, 0.08), (0.55, 0.92)], [(0.3, 0.92), (0.8, 0.92)]]],
    2: [[_arc(0.5, 0.3, 0.27, 0.22, 190, 380, 16) + [(0.3, 0.8)] + _arc(0.35, 0.85, 0.08, 0.07, 0, 360, 10)
         + [(0.8, 0.9)]]],
    3: [[[(0.22, 0.1), (0.75, 0.1), (0.45, 0.42)] + _arc(0.48, 0.68, 0.28, 0.24, 270, 520, 20)]],
    4: [[[(0.2, 0.08), (0.18, 0.6), (0.82, 0.6)], [(0.62, 0.3), (0.62, 0.92)]]],
    7: [[[(0.2, 0.1), (0.8, 0.1), (0.42, 0.92)], [(0.35, 0.5), (0.75, 0.5)]], [[(0.2, 0.18), (0.32, 0.1), (0.8, 0.1),
        (0.5, 0.5), (0.42, 0.92)]]],
    9: [[_arc(0.5, 0.3, 0.24, 0.2, 0, 360, 28), [(0.74, 0.3), (0.72, 0.7)] + _arc(0.5, 0.7, 0.22, 0.2, 0, 140, 10)]],
    0: [[_arc(0.5, 0.5, 0.3, 0.42, -80, 290, 40) + [(0.62, 0.05)]]],
}


def place(strokes: list[Stroke], size: int, box: tuple[float, float, float, float], slant: float = 0.0,
          jitter: float = 0.0, rng: np.random.Generator | None = None) -> list[Stroke]:
    """Map unit-box strokes into ``box`` = (left, top, width, height) in pixels, with slant and jitter."""
    left, top, width, height = box
    rng = rng or np.random.default_rng(0)
    out = []
    for stroke in strokes:
        placed = []
        for x, y in stroke:
            x2 = x + slant * (0.5 - y)
            px = left + x2 * width + (rng.normal(0, jitter * width) if jitter else 0.0)
            py = top + y * height + (rng.normal(0, jitter * height) if jitter else 0.0)
            placed.append((float(np.clip(px, 0, size - 1)), float(np.clip(py, 0, size - 1))))
        out.append(placed)
    return out


def render(strokes: list[Stroke], size: int = 280, width: float = 18.0, ink: int = 0, paper: int = 255) -> np.ndarray:
    """Grey uint8 canvas with anti-aliased, round-capped strokes (as QPainter draws them)."""
    shift = 4  # sub-pixel precision for cv2's fixed-point drawing
    canvas = np.full((size, size), paper, np.uint8)
    thickness = max(1, round(width))
    for stroke in strokes:
        pts = np.array([[round(x * (1 << shift)), round(y * (1 << shift))] for x, y in stroke], np.int32)
        if len(pts) == 1:
            cv2.circle(canvas, tuple(pts[0]), round(width / 2 * (1 << shift)), ink, -1, cv2.LINE_AA, shift)
        else:
            cv2.polylines(canvas, [pts], False, ink, thickness, cv2.LINE_AA, shift)
            for end in (pts[0], pts[-1]):
                cv2.circle(canvas, tuple(end), round(width / 2 * (1 << shift)), ink, -1, cv2.LINE_AA, shift)
    return canvas


def demo_digit(digit: int = 7, size: int = 280, width: float = 18.0) -> list[Stroke]:
    """A centred, upright digit as strokes: what ``--draw-demo`` draws on the canvas."""
    margin = size * 0.18
    return place(TEMPLATES[digit], size, (margin, margin * 0.8, size - 2 * margin, size - 1.6 * margin))


def paper_photo(ink_mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A digit 'photographed' on paper: unevenly lit grey page, grey ink, blur and sensor noise."""
    h, w = ink_mask.shape
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    angle = rng.uniform(0, 2 * np.pi)
    gradient = (np.cos(angle) * xs + np.sin(angle) * ys) / max(h, w)
    paper = rng.uniform(150, 215) + rng.uniform(20, 45) * gradient
    ink_level = rng.uniform(30, 90)
    alpha = ink_mask.astype(np.float32) / 255.0
    image = paper * (1 - alpha) + ink_level * alpha
    image = cv2.GaussianBlur(image, (0, 0), rng.uniform(0.6, 1.8))
    image += rng.normal(0, rng.uniform(3, 9), image.shape)
    return np.clip(image, 0, 255).astype(np.uint8)


def drawn_digit_set(per_class: int = 20, seed: int = 0, size: int = 280) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Digits as users draw them: thick/thin, small/large, off-centre, slanted, either polarity, or on paper.

    Returns grey uint8 images (N, size, size), labels, and a style name per image.
    """
    rng = np.random.default_rng(seed)
    styles = ["canvas", "thin", "thick", "small-corner", "slanted", "white-on-black", "paper-photo"]
    images, labels, names = [], [], []
    for digit in range(10):
        for i in range(per_class):
            style = styles[i % len(styles)]
            height = rng.uniform(0.55, 0.85) * size
            width_scale = rng.uniform(0.55, 0.8)
            if style == "small-corner":
                height = rng.uniform(0.22, 0.35) * size
            box_w = height * width_scale
            left = rng.uniform(0.04 * size, size - box_w - 0.04 * size)
            top = rng.uniform(0.04 * size, size - height - 0.04 * size)
            slant = rng.uniform(-0.35, 0.35) if style == "slanted" else rng.uniform(-0.12, 0.12)
            shapes = [TEMPLATES[digit], *ALTERNATES.get(digit, [])]
            shape = shapes[int(rng.integers(len(shapes)))]
            strokes = place(shape, size, (left, top, box_w, height), slant=slant, jitter=0.01, rng=rng)
            pen = {"thin": rng.uniform(5, 9), "thick": rng.uniform(26, 36)}.get(style, rng.uniform(12, 22))
            if style == "small-corner":
                pen = rng.uniform(7, 14)
            if style == "white-on-black":
                image = render(strokes, size, pen, ink=255, paper=0)
            elif style == "paper-photo":
                image = paper_photo(render(strokes, size, pen, ink=255, paper=0), rng)
            else:
                image = render(strokes, size, pen)
            images.append(image)
            labels.append(digit)
            names.append(style)
    return np.stack(images), np.array(labels, np.int64), names
