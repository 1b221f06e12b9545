"""Convolution in motion: a whole sweep of the window agrees with what the stage computed, at every position."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import cnnviz
from cnnviz.core.engine.capture import capture
from cnnviz.core.teach.convolution_steps import SweepError, conv_steps, sweepable


def _captured(model: nn.Module, shape: tuple[int, ...], seed: int = 0):
    torch.manual_seed(seed)
    model.eval()
    return capture(model, torch.randn(1, *shape))


def _agrees_everywhere(result, stage: str, channels: range | list[int]) -> None:
    values = result.by_name(stage).output[0].detach().numpy()
    for channel in channels:
        sweep = conv_steps(result, stage, channel)
        assert len(sweep) == values.shape[1] * values.shape[2]
        seen = np.full(values.shape[1:], np.nan, np.float32)
        for step in sweep:
            assert step.index == step.y * sweep.out_w + step.x
            seen[step.y, step.x] = step.total
            assert step.relu == pytest.approx(max(step.total, 0.0))
        np.testing.assert_allclose(seen, values[channel], atol=1e-5, rtol=1e-5)
        np.testing.assert_allclose(sweep.output, values[channel], atol=1e-5, rtol=1e-5)


def test_padded_stride_two_conv_every_position_and_its_arithmetic():
    torch.manual_seed(1)
    model = nn.Sequential(nn.Conv2d(3, 4, 3, stride=2, padding=1), nn.ReLU())
    result = _captured(model, (3, 9, 8))
    _agrees_everywhere(result, "0", range(4))
    step = conv_steps(result, "0", 2).at(0, 0)
    assert step.box == (-1, -1, 2, 2)  # the window starts on the padding
    assert step.patch.shape == step.kernel.shape == step.products.shape == (3, 3, 3)
    assert not step.inside[0].any() and not step.inside[:, 0].any() and step.inside[1:, 1:].all()
    assert (step.patch[:, 0, :] == 0).all()  # zero padding
    np.testing.assert_allclose(step.products, step.patch * step.kernel)
    np.testing.assert_allclose(step.per_channel, step.products.sum(axis=(1, 2)), rtol=1e-6)
    assert step.total == pytest.approx(float(step.per_channel.sum()) + step.bias, abs=1e-5)
    assert step.bias == pytest.approx(model[0].bias[2].item())
    relu = result.by_name("1").output[0, 2, 0, 0].item()
    assert step.relu == pytest.approx(relu, abs=1e-5)
    last = conv_steps(result, "0", 0).step(len(conv_steps(result, "0", 0)) - 1)
    assert (last.y, last.x) == (4, 3) and last.box == (7, 5, 10, 8)


def test_dilated_conv():
    result = _captured(nn.Sequential(nn.Conv2d(2, 3, 3, padding=2, dilation=2)), (2, 7, 7))
    _agrees_everywhere(result, "0", range(3))
    assert conv_steps(result, "0", 0).at(0, 0).box == (-2, -2, 3, 3)


def test_grouped_conv_reads_only_its_group():
    result = _captured(nn.Sequential(nn.Conv2d(4, 6, 3, padding=1, groups=2, bias=False)), (4, 6, 5))
    _agrees_everywhere(result, "0", range(6))
    sweep = conv_steps(result, "0", 4)
    assert sweep.at(1, 1).input_channels == (2, 3) and sweep.at(1, 1).bias == 0.0
    assert conv_steps(result, "0", 1).at(0, 0).input_channels == (0, 1)


def test_max_pool_winner_and_padding():
    result = _captured(nn.Sequential(nn.MaxPool2d(3, stride=2, padding=1)), (2, 7, 6))
    _agrees_everywhere(result, "0", range(2))
    step = conv_steps(result, "0", 1).at(0, 0)
    assert step.kernel is None and step.winner is not None and step.inside[step.winner]
    assert step.total == step.patch[0][step.winner] and np.isneginf(step.patch[0, 0, 0])


def test_dilated_ceil_mode_max_pool():
    result = _captured(nn.Sequential(nn.MaxPool2d(2, stride=2, dilation=2, ceil_mode=True)), (1, 7, 7))
    _agrees_everywhere(result, "0", [0])


@pytest.mark.parametrize("include_pad", [True, False])
def test_avg_pool_mean(include_pad):
    result = _captured(nn.Sequential(nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=include_pad)), (2, 6, 7))
    _agrees_everywhere(result, "0", range(2))
    step = conv_steps(result, "0", 0).at(0, 0)
    assert step.divisor == (9 if include_pad else 4)
    assert step.total == pytest.approx(float(step.patch[0][step.inside].sum()) / step.divisor, abs=1e-6)


def test_lenet5_conv1_of_the_shipped_model():
    from cnnviz.core.data.strokes import demo_digit, render

    model = cnnviz.load_model("lenet5-mnist", "cpu")
    digit = render(demo_digit(3, size=28, width=2.5), size=28, width=2.5, ink=255, paper=0)
    result = capture(model, torch.from_numpy((digit.astype(np.float32) / 255.0 - 0.1307) / 0.3081)[None, None])
    conv = next(s for s in result if s.kind == "conv")
    assert sweepable(conv)
    _agrees_everywhere(result, conv.name, range(conv.output.shape[1]))


def test_refuses_what_it_cannot_sweep():
    result = _captured(nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU()), (1, 5, 5))
    with pytest.raises(SweepError, match="relu stage"):
        conv_steps(result, "1", 0)
    with pytest.raises(SweepError, match="no channel 2"):
        conv_steps(result, "0", 2)
    with pytest.raises(SweepError, match="no stage"):
        conv_steps(result, "nope", 0)
    with pytest.raises(IndexError):
        conv_steps(result, "0", 0).step(9)


@pytest.mark.parametrize("pool", [nn.AdaptiveAvgPool2d((3, 2)), nn.AdaptiveMaxPool2d(3)])
def test_adaptive_pools_windows_of_varying_size(pool):
    result = _captured(nn.Sequential(pool), (2, 7, 5))
    _agrees_everywhere(result, "0", range(2))
    sweep = conv_steps(result, "0", 1)
    assert sweep.at(0, 0).box[:2] == (0, 0) and sweep.at(sweep.out_h - 1, sweep.out_w - 1).box[2:] == (7, 5)
    assert sweep.at(0, 0).inside.all()


def test_resnet_global_average_pool():
    model = cnnviz.load_model("resnet18", "cpu", pretrained=False)
    result = _captured(model, (3, 64, 64))
    _agrees_everywhere(result, "avgpool", [0, 511])
    step = conv_steps(result, "avgpool", 0).step(0)
    assert step.box == (0, 0, 2, 2) and step.divisor == 4
