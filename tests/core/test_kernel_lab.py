"""Kernel lab: editing, transforms, the pipeline at full resolution, and filters put into a network."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

import cnnviz
from cnnviz.core.engine.changes import stage_changes
from cnnviz.core.errors import KernelError
from cnnviz.core.lab.kernel_edit import (
    negate,
    normalise_sum,
    parse_cell,
    resize_kernel,
    rotate90,
    transpose,
    zero_mean,
)
from cnnviz.core.lab.kernel_lab import LabRequest, run_lab
from cnnviz.core.lab.kernels import EDGE4_BANK, preset
from cnnviz.core.lab.surgery import FilterEdit, Surgeon, fit_kernel, trained_weights


@pytest.mark.parametrize("text,value", [("1", 1.0), (" -2.5 ", -2.5), ("0,25", 0.25), ("1e-3", 1e-3)])
def test_parse_cell_accepts_numbers(text, value):
    assert parse_cell(text) == value


@pytest.mark.parametrize("text,reason", [("", "empty"), ("abc", "not a number"), ("nan", "NaN"),
                                         ("inf", "too large"), ("1e999", "too large"), ("-Infinity", "too large")])
def test_parse_cell_refuses_with_a_reason(text, reason):
    with pytest.raises(KernelError, match=reason):
        parse_cell(text)


def test_transforms():
    k = np.arange(6, dtype=np.float32).reshape(2, 3)
    assert np.array_equal(negate(k), -k) and np.array_equal(transpose(k), k.T)
    assert np.array_equal(rotate90(k), np.rot90(k))
    assert np.isclose(normalise_sum(k).sum(), 1.0) and np.isclose(zero_mean(k).mean(), 0.0)
    with pytest.raises(KernelError, match="sum to 0"):
        normalise_sum(preset("sobel-x").weights)
    grown = resize_kernel(preset("sobel-x").weights, 5, 5)
    assert np.array_equal(grown[1:4, 1:4], preset("sobel-x").weights) and grown[0].sum() == 0


def test_fit_kernel_centres_or_refuses():
    fitted = fit_kernel(preset("sobel-x").weights, 5, 5)
    assert np.array_equal(fitted[1:4, 1:4], preset("sobel-x").weights) and np.abs(fitted).sum() == 8
    with pytest.raises(KernelError, match="at most 3x3"):
        fit_kernel(np.ones((5, 5), np.float32), 3, 3)
    with pytest.raises(KernelError, match="cannot be centred"):
        fit_kernel(np.ones((4, 4), np.float32), 5, 5)


def test_surgery_changes_the_stage_and_reset_is_bitwise():
    model = cnnviz.load_model("lenet5-mnist", "cpu")
    original = {k: v.clone() for k, v in model.state_dict().items()}
    x = torch.rand(1, 1, 28, 28)
    before = cnnviz.capture(model, x)
    surgeon = Surgeon(model)
    surgeon.apply(FilterEdit("conv1", "conv1", 0, preset("sobel-x").weights))
    assert torch.equal(model.conv1.weight[0, 0], torch.from_numpy(fit_kernel(preset("sobel-x").weights, 5, 5)))
    assert torch.equal(model.conv1.weight[1:], original["conv1.weight"][1:])
    after = cnnviz.capture(model, x)
    assert not torch.equal(before.by_name("conv1").output[0, 0], after.by_name("conv1").output[0, 0])
    assert torch.equal(before.by_name("conv1").output[0, 1:], after.by_name("conv1").output[0, 1:])
    changes = {c.name: c.mean_abs_change for c in stage_changes(before, after)}
    assert changes["conv1"] > 0 and changes["softmax"] >= 0
    with trained_weights(surgeon):
        assert torch.equal(model.conv1.weight, original["conv1.weight"])
    assert not torch.equal(model.conv1.weight, original["conv1.weight"])
    surgeon.reset()
    for key, value in model.state_dict().items():
        assert torch.equal(value, original[key]), key
    assert torch.equal(cnnviz.capture(model, x).probabilities, before.probabilities)


def test_one_input_channel_gets_the_kernel_the_others_zero():
    model = cnnviz.load_model("lenet5-mnist", "cpu")
    surgeon = Surgeon(model)
    surgeon.apply(FilterEdit("conv2", "conv2", 3, preset("identity").weights, channel=2))
    weight = model.conv2.weight[3]
    assert weight[2, 2, 2] == 1 and weight.abs().sum() == 1
    with pytest.raises(KernelError, match="input channels 0..5"):
        surgeon.apply(FilterEdit("conv2", "conv2", 3, preset("identity").weights, channel=6))
    with pytest.raises(KernelError, match="filters 0..15"):
        surgeon.apply(FilterEdit("conv2", "conv2", 16, preset("identity").weights))


def test_lab_runs_at_full_resolution_and_matches_filter2d():
    rgb = cv2.resize(cv2.imread(str(__import__("cnnviz.core.assets", fromlist=["x"]).samples_dir()
                                    / "photos" / "camera.png")), (512, 512))
    bank = tuple(preset(n) for n in EDGE4_BANK)
    result = run_lab(LabRequest(rgb[:, :, ::-1].copy(), bank))
    assert result.grey.shape == (512, 512) and len(result.rows) == 4
    grey = cv2.cvtColor(rgb, cv2.COLOR_BGR2GRAY).astype(np.float32) / 255
    reference = cv2.filter2D(grey, -1, bank[0].weights, borderType=cv2.BORDER_CONSTANT)
    np.testing.assert_allclose(result.conv[0], reference, atol=1e-4)
    assert result.rows[0].shapes == ((512, 512), (256, 256))
