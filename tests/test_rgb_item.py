"""RGBImageItem puts the same pixels on screen as pyqtgraph's own ImageItem, through RGBX8888."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
import pytest
from PySide6.QtGui import QImage

from cnnviz.qt.views.rgb_item import RGBImageItem


def _mosaic(size: int) -> np.ndarray:
    """Random tiles with 1-2 px white gaps, the picture where a different sampling would show."""
    picture = (np.random.default_rng(size).random((size, size, 3)) * 255).astype(np.uint8)
    for start in range(0, size, 57):
        picture[start:start + 1 + start % 2, :] = 255
        picture[:, start:start + 1 + start % 2] = 255
    return picture


def _shown(qtbot, item: pg.ImageItem, image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    view = pg.GraphicsLayoutWidget()
    qtbot.addWidget(view)
    box = view.addViewBox(lockAspect=True, invertY=True)
    box.addItem(item)
    item.setImage(image, autoLevels=False)
    view.resize(*size)
    view.show()
    qtbot.waitExposed(view)
    box.autoRange(padding=0.01)
    picture = view.grab().toImage().convertToFormat(QImage.Format.Format_RGB888)
    return np.frombuffer(picture.constBits(), np.uint8).reshape(picture.height(), picture.bytesPerLine()).copy()


@pytest.mark.parametrize(("side", "window"), [(906, (700, 600)), (224, (300, 300)), (60, (500, 400))])
def test_the_same_pixels_as_pyqtgraphs_own_item(qtbot, side: int, window: tuple[int, int]) -> None:
    image = _mosaic(side)
    fast = RGBImageItem(axisOrder="row-major")
    ours = _shown(qtbot, fast, image, window)
    theirs = _shown(qtbot, pg.ImageItem(axisOrder="row-major"), image, window)
    assert fast.qimage.format() == QImage.Format.Format_RGBX8888
    assert np.array_equal(ours, theirs)
    assert ours.std() > 20  # a picture, not a blank


def test_other_pictures_take_pyqtgraphs_path(qtbot) -> None:
    grey = (np.arange(64 * 64) % 256).astype(np.uint8).reshape(64, 64)
    item = RGBImageItem(axisOrder="row-major")
    _shown(qtbot, item, grey, (200, 200))
    assert item.qimage is not None and item.qimage.format() != QImage.Format.Format_RGBX8888
