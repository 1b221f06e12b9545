"""NumPy images <-> Qt images, copying once so either side may be freed afterwards."""

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


def qimage_to_array(image: QImage) -> np.ndarray:
    """A grey (Grayscale8) or RGB QImage as a uint8 (H, W) or (H, W, 3) array (a copy: the QImage's
    bits are freed with it, and reading them after that reads whatever reused the memory)."""
    if image.format() != QImage.Format.Format_Grayscale8:
        image = image.convertToFormat(QImage.Format.Format_RGB888)
    channels = 1 if image.format() == QImage.Format.Format_Grayscale8 else 3
    rows = np.frombuffer(image.constBits(), np.uint8, count=image.sizeInBytes()).reshape(image.height(),
                                                                                         image.bytesPerLine())
    array = rows[:, : image.width() * channels].copy()
    return array if channels == 1 else array.reshape(image.height(), image.width(), 3)


def qimage_to_rgb(image: QImage) -> np.ndarray:
    """Any QImage as RGB uint8 (H, W, 3)."""
    return qimage_to_array(image.convertToFormat(QImage.Format.Format_RGB888))
