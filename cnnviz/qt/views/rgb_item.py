"""A pyqtgraph ImageItem that hands uint8 RGB pictures to Qt in a format Qt draws without converting.

pyqtgraph passes 3-channel uint8 data to Qt as ``Format_RGB888``, which Qt's raster engine converts
to 32 bits per pixel on every paint before scaling it: 1.7 ms for a 906x906 mosaic on the 2-core
development VM, and that paint shares the cores with the forward pass. The same pixels padded to
``Format_RGBX8888`` draw in 0.65 ms, pixel for pixel the same on screen (compared by a test).
The worker makes the RGBX pictures (``cnnviz.core.engine.render.to_rgbx``), so the GUI thread only
wraps them; a 3-channel picture is still padded here. Everything else (levels, lookup tables, other
dtypes) stays pyqtgraph's own path.

A new picture of the same shape also skips the scene's bookkeeping: an item's ``update()`` has
its QGraphicsScene process dirty items in a queued call that then paints the whole window at
once, so the maps view and the input view (two scenes) made two window paints per result,
~1.5 ms each on the development VM. Asking the views to repaint the item's area instead lets
the one window paint that every result makes draw both.
"""

from __future__ import annotations

import cv2
import numpy as np
import pyqtgraph as pg
from PySide6.QtGui import QImage


class RGBImageItem(pg.ImageItem):
    """``setImage`` as usual; a uint8 RGB or RGBX picture without levels or a lookup table is drawn as RGBX
    (the fourth channel of an RGBX picture is padding: it is never read as alpha)."""

    def setImage(self, image: np.ndarray | None = None, autoLevels: bool | None = None, **kwargs) -> None:  # noqa: N802, N803
        old = self.image
        if (image is None or kwargs or autoLevels or old is None or image.shape != old.shape
                or image.dtype != old.dtype or not self._fast(image)):
            super().setImage(image, autoLevels=autoLevels, **kwargs)
            return
        self.image = image.view()  # (what pyqtgraph does with the same shape: no geometry change)
        self._renderRequired = True
        self._repaint_in_views()
        self.sigImageChanged.emit()

    def _repaint_in_views(self) -> None:
        scene = self.scene()
        if scene is None or not self.isVisible():
            return
        area = self.sceneBoundingRect()
        for view in scene.views():
            view.viewport().update(view.mapFromScene(area).boundingRect().adjusted(-1, -1, 1, 1))

    def _fast(self, image: np.ndarray) -> bool:
        return (image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] in (3, 4)
                and self.axisOrder == "row-major" and self.levels is None and self.lut is None
                and not self.autoDownsample and image.size > 0)

    def render(self) -> None:
        image = self.image
        if image is None or not self._fast(image):
            super().render()
            return
        # (pyqtgraph keeps the array alive on the QImage it makes)
        rgbx = image if image.shape[2] == 4 else cv2.cvtColor(image, cv2.COLOR_RGB2RGBA)
        self.qimage = pg.functions.ndarray_to_qimage(np.ascontiguousarray(rgbx), QImage.Format.Format_RGBX8888)
        self._renderRequired = False  # (pyqtgraph >= 0.14 reads these; 0.13 looks at qimage alone)
        self._unrenderable = False
