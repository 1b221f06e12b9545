"""NumPy images -> Qt images, copying once so the array may be freed afterwards."""

from __future__ import annotations

import numpy as np
from PySide6.QtGui import QFont, QImage, QPixmap


def to_qimage(array: np.ndarray) -> QImage:
    a = np.ascontiguousarray(array)
    if a.ndim == 2:
        image = QImage(a.data, a.shape[1], a.shape[0], a.strides[0], QImage.Format.Format_Grayscale8)
    else:
        image = QImage(a.data, a.shape[1], a.shape[0], a.strides[0], QImage.Format.Format_RGB888)
    return image.copy()


def to_pixmap(array: np.ndarray, width: int | None = None) -> QPixmap:
    pixmap = QPixmap.fromImage(to_qimage(array))
    if width:
        from PySide6.QtCore import Qt

        pixmap = pixmap.scaledToWidth(width, Qt.TransformationMode.FastTransformation)
    return pixmap


def bold_font() -> QFont:
    """Bold, everything else inherited: unlike a style sheet, it follows the window's font size
    (presenter mode)."""
    font = QFont()
    font.setBold(True)
    return font
