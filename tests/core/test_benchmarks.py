"""Unit benchmarks of the hot pieces (pytest-benchmark). CI runs them once as plain tests
(``--benchmark-disable`` in pyproject); measure with ``pytest tests/core/test_benchmarks.py --benchmark-enable``.
They never assert a wall-clock time. The GUI thread's part (painting a mosaic) is in tests/qt/test_benchmarks_qt.py.
"""

from __future__ import annotations

import pytest
import torch

import cnnviz
from cnnviz.core.engine.capture import capturer_for
from cnnviz.core.engine.render import stage_mosaics


@pytest.fixture(params=["lenet5", "resnet18"])
def model_and_input(request):
    model = cnnviz.load_model(request.param, "cpu", pretrained=False)
    torch.manual_seed(0)
    return model, torch.rand(1, *model.cnnviz_spec.input_shape)


def test_bare_forward(benchmark, model_and_input):
    model, x = model_and_input
    with torch.no_grad():
        out = benchmark(model, x)
    assert out.shape[0] == 1


def test_capture(benchmark, model_and_input):
    model, x = model_and_input
    capturer = capturer_for(model)
    result = benchmark(capturer, x)
    assert result.probabilities is not None


def test_mosaics_of_every_stage(benchmark, model_and_input):
    model, x = model_and_input
    stages = cnnviz.capture(model, x).stages
    out = benchmark(stage_mosaics, stages)
    assert len(out) == len(stages)
