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


def _two_views(qtbot, make) -> tuple:  # noqa: ANN001
    """Two image views in one window, as the maps and the input are in the app."""
    from PySide6.QtWidgets import QHBoxLayout, QWidget

    window = QWidget()
    row = QHBoxLayout(window)
    items, views = [], []
    for _ in range(2):
        view = pg.GraphicsLayoutWidget()
        box = view.addViewBox(lockAspect=True, invertY=True)
        item = make(axisOrder="row-major")
        box.addItem(item)
        item.setImage(_mosaic(120), autoLevels=False)
        row.addWidget(view)
        items.append(item)
        views.append(view)
    qtbot.addWidget(window)
    window.resize(600, 300)
    window.show()
    qtbot.waitExposed(window)
    for view in views:
        view.ci.layout.itemAt(0).autoRange(padding=0)
    settle()  # the first paints are done before a test counts any
    return window, items, views


def settle() -> None:
    from PySide6.QtWidgets import QApplication

    for _ in range(5):
        QApplication.processEvents()


@pytest.mark.parametrize("make", [pg.ImageItem, RGBImageItem], ids=["pyqtgraph", "ours"])
def test_new_pictures_in_two_views_are_painted_in_one_window_paint(qtbot, make) -> None:  # noqa: ANN001
    """pyqtgraph's item has its scene paint the whole window at once per view (two paints for two views);
    ours marks its area on the views, so the window's one paint draws both, with the new pixels."""
    from PySide6.QtCore import QEvent, QObject
    from PySide6.QtWidgets import QApplication

    window, items, views = _two_views(qtbot, make)

    class Paints(QObject):
        count = 0

        def eventFilter(self, watched, event):  # noqa: ANN001, ANN202, N802
            if event.type() == QEvent.Type.UpdateRequest:
                self.count += 1
            return False

    paints = Paints()
    window.installEventFilter(paints)
    red = np.zeros((120, 120, 3), np.uint8)
    red[..., 0] = 255
    for item in items:
        item.setImage(red, autoLevels=False)
    for _ in range(5):
        QApplication.processEvents()
    assert paints.count == (1 if make is RGBImageItem else 2)
    for view in views:
        shown = view.grab().toImage()
        assert shown.pixelColor(shown.width() // 2, shown.height() // 2).red() == 255
        assert shown.pixelColor(shown.width() // 2, shown.height() // 2).green() == 0
