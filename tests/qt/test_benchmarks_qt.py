"""Unit benchmark of the GUI thread's hot piece (pytest-benchmark), run once as a plain test in CI
(``--benchmark-disable`` in pyproject); the core's are in tests/core/test_benchmarks.py.
It never asserts a wall-clock time.
"""

from __future__ import annotations

import pytest
import torch

import cnnviz


@pytest.fixture(params=["lenet5", "resnet18"])
def model_and_input(request):
    model = cnnviz.load_model(request.param, "cpu", pretrained=False)
    torch.manual_seed(0)
    return model, torch.rand(1, *model.cnnviz_spec.input_shape)


def test_set_image_and_paint_a_mosaic(benchmark, model_and_input, qtbot):
    """What the GUI thread does with each result's feature maps: setImage on the ImageItem (uint8 RGB,
    no autoLevels) and one synchronous paint of the view."""
    import numpy as np

    from cnnviz.core.engine.frame import FrameRequest, process_frame
    from cnnviz.qt.views.feature_maps import FeatureMapView

    model, x = model_and_input
    rgb = (x[0].permute(1, 2, 0).expand(-1, -1, 3).numpy() * 255).astype(np.uint8)
    result = process_frame(model, FrameRequest(rgb, detail=False))
    view = FeatureMapView()
    qtbot.addWidget(view)
    view.resize(700, 600)
    view.show()
    qtbot.waitExposed(view)

    def show():  # noqa: ANN202
        view.set_mosaic(result.mosaic, result.layout)
        return view.grab()  # paints the whole view, as the window's next paint pass does

    picture = benchmark(show).toImage()
    assert view.item.image.shape == result.mosaic.shape and picture.width() == 700
    assert len({picture.pixel(x, y) for x in range(0, 700, 7) for y in range(0, 600, 7)}) > 10  # maps, not a blank
