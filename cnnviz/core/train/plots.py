"""Small report images drawn with OpenCV (no matplotlib): training curves and confusion matrices."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from cnnviz.core.data.imageio import write_png

_FONT = cv2.FONT_HERSHEY_SIMPLEX


def curves_png(path: Path, history: Sequence) -> None:
    """Loss (left) and train/test accuracy (right) per epoch."""
    width, height, pad = 900, 360, 48
    canvas = np.full((height, width, 3), 255, np.uint8)
    epochs = [h.epoch for h in history]
    panels = [("loss", [("train loss", [h.loss for h in history], (200, 60, 30))]),
              ("accuracy", [("train", [h.train_accuracy for h in history], (30, 120, 200)),
                            ("test", [h.test_accuracy for h in history], (20, 160, 60))])]
    for index, (title, series) in enumerate(panels):
        x0 = index * width // 2 + pad
        x1 = (index + 1) * width // 2 - 16
        y0, y1 = pad, height - pad
        cv2.rectangle(canvas, (x0, y0), (x1, y1), (180, 180, 180), 1)
        values = [v for _, vs, _ in series for v in vs]
        low, high = (min(values), max(values)) if values else (0.0, 1.0)
        if high - low < 1e-9:
            high = low + 1e-3
        cv2.putText(canvas, f"{title} ({low:.3g} .. {high:.3g})", (x0, y0 - 12), _FONT, 0.5, (0, 0, 0), 1,
                    cv2.LINE_AA)
        for line, (label, vs, colour) in enumerate(series):
            if not vs:
                continue
            span = max(1, max(epochs) - min(epochs))
            points = np.array([[x0 + (e - min(epochs)) / span * (x1 - x0), y1 - (v - low) / (high - low) * (y1 - y0)]
                               for e, v in zip(epochs, vs, strict=True)], np.int32)
            cv2.polylines(canvas, [points], False, colour, 2, cv2.LINE_AA)
            cv2.putText(canvas, label, (x1 - 110, y0 + 20 + 18 * line), _FONT, 0.45, colour, 1, cv2.LINE_AA)
        cv2.putText(canvas, "epoch", ((x0 + x1) // 2 - 20, height - 16), _FONT, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    write_png(path, canvas)


def confusion_png(path: Path, confusion: Sequence[Sequence[int]], names: Sequence[str]) -> None:
    """The confusion matrix as a heat map with counts; rows are true classes."""
    matrix = np.asarray(confusion, np.float64)
    k = len(names)
    cell, left, top = 44, 130, 40
    canvas = np.full((top + cell * k + 20, left + cell * k + 20, 3), 255, np.uint8)
    rows = matrix.sum(1, keepdims=True)
    share = np.divide(matrix, rows, out=np.zeros_like(matrix), where=rows > 0)
    for i in range(k):
        cv2.putText(canvas, str(names[i])[:14], (6, top + i * cell + cell // 2 + 5), _FONT, 0.42, (0, 0, 0), 1,
                    cv2.LINE_AA)
        cv2.putText(canvas, str(i), (left + i * cell + cell // 2 - 5, top - 10), _FONT, 0.45, (0, 0, 0), 1,
                    cv2.LINE_AA)
        for j in range(k):
            level = int(255 - 200 * share[i, j])
            colour = (level, level, 255) if i != j else (level, 255, level)
            x, y = left + j * cell, top + i * cell
            cv2.rectangle(canvas, (x, y), (x + cell - 1, y + cell - 1), colour, -1)
            cv2.putText(canvas, str(int(matrix[i, j])), (x + 4, y + cell // 2 + 5), _FONT, 0.38, (0, 0, 0), 1,
                        cv2.LINE_AA)
    write_png(path, canvas)
