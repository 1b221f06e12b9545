"""A pyqtgraph ImageItem that hands uint8 RGB pictures to Qt in a format Qt draws without converting.

pyqtgraph passes 3-channel uint8 data to Qt as ``Format_RGB888``, which Qt's raster engine converts
to 32 bits per pixel on every paint before scaling it: 1.7 ms for a 906x906 mosaic on the 2-core
development VM, and that paint shares the cores with the forward pass. The same pixels padded to
``Format_RGBX8888`` draw in 0.65 ms, pixel for pixel the same on screen (compared by a test).
Everything else (levels, lookup tables, other dtypes) stays pyqtgraph's own path.
"""

from __future__ import annotations

import cv2
import numpy as np
import pyqtgraph as pg
from PySide6.QtGui import QImage


class RGBImageItem(pg.ImageItem):
    """``setImage`` as usual; a uint8 RGB picture without levels or a lookup table is drawn as RGBX."""

    def render(self) -> None:
        image = self.image
        if (image is None or image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3
                or self.axisOrder != "row-major" or self.levels is not None or self.lut is not None
                or self.autoDownsample or image.size == 0):
            super().render()
            return
        # (pyqtgraph keeps the array alive on the QImage it makes)
        self.qimage = pg.functions.ndarray_to_qimage(cv2.cvtColor(image, cv2.COLOR_RGB2RGBA),
                                                     QImage.Format.Format_RGBX8888)
        self._renderRequired = False  # (pyqtgraph >= 0.14 reads these; 0.13 looks at qimage alone)
        self._unrenderable = False
