"""The frame's hover data: the selected stage's values and a conv's arithmetic, copied to the host only when
asked for, equal to what the forward pass produced, and fixed at the frame (a later kernel edit or frame
does not change them)."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

import cnnviz
from cnnviz.core.data.datasets import load_dataset
from cnnviz.core.engine.frame import FrameRequest, process_frame
from cnnviz.core.engine.preprocess import prepare
from cnnviz.core.engine.render import MIN_TILE, stage_mosaic, to_rgbx
from cnnviz.core.lab.kernels import preset
from cnnviz.core.lab.surgery import FilterEdit, Surgeon, trained_weights


@pytest.fixture
def lenet():
    return cnnviz.load_model("lenet5-mnist", "cpu")  # a fresh copy per test: the tests edit its weights


@pytest.fixture(scope="module")
def digits():
    return load_dataset("samples-mnist", None, train=False)


def _captured(model, image):
    """Every stage of ``image`` through ``model``, by a path of its own (not the frame's)."""
    with torch.no_grad():
        return cnnviz.capture(model, prepare(image, model.cnnviz_spec).tensor[None])


@pytest.mark.parametrize("stage", ["conv1", "conv2", "relu2", "pool2", "fc1"])
def test_the_hover_values_are_the_captured_stage_output_copied_on_first_use(lenet, digits, stage):
    image = digits.images[3]
    frame = process_frame(lenet, FrameRequest(image, stage, detail=False))
    assert frame.selected == stage
    assert frame.hover._host == {}  # nothing copied to the host until someone hovers
    values = frame.hover.values
    assert set(frame.hover._host) == {"values"} and frame.hover.values is values  # copied once
    expected = _captured(lenet, image).by_name(stage).output[0]
    if expected.dim() == 1:  # a vector is shown as one near-square map, NaN-padded
        assert values.shape[0] == 1
        flat = values.reshape(-1)
        assert np.allclose(flat[: expected.numel()], expected.numpy(), atol=1e-6)
        assert np.isnan(flat[expected.numel():]).all()
    else:
        assert values.dtype == np.float32 and values.shape == tuple(expected.shape)
        assert np.allclose(values, expected.numpy(), atol=1e-6)
        c, h, w = values.shape
        assert frame.hover.value(c - 1, h - 1, w - 1) == pytest.approx(float(expected[c - 1, h - 1, w - 1]))
        assert frame.hover.value(c, 0, 0) is None and frame.hover.value(0, -1, 0) is None
        assert frame.hover.value(0, h, 0) is None and frame.hover.value(0, 0, w) is None
    assert frame.hover.is_conv == (stage.startswith("conv"))
    if not frame.hover.is_conv:
        assert frame.hover.arithmetic(0, 0, 0) is None


@pytest.mark.parametrize("stage", ["conv1", "conv2"])  # conv1 pads by 2 and reads the input; conv2 reads pool1
def test_the_arithmetic_adds_up_to_the_captured_conv_output(lenet, digits, stage):
    image = digits.images[5]
    frame = process_frame(lenet, FrameRequest(image, stage, detail=False))
    output = _captured(lenet, image).by_name(stage).output[0]
    c, h, w = output.shape
    for channel, y, x in [(0, 0, 0), (c - 1, h - 1, w - 1), (c // 2, h // 2, w // 3), (1, 0, w - 1)]:
        sums = frame.hover.arithmetic(channel, y, x)
        assert sums is not None and (sums.channel, sums.y, sums.x) == (channel, y, x)
        assert sums.value == pytest.approx(float(output[channel, y, x]), abs=1e-4)
        assert sums.value == pytest.approx(frame.hover.value(channel, y, x), abs=1e-4)
        assert np.array_equal(sums.kernels, lenet.get_submodule(stage).weight[channel].detach().numpy())


def test_a_kernel_edit_after_the_frame_leaves_its_numbers_alone(lenet, digits):
    """The worker edits the weights between frames while the GUI may still read the last frame's hover:
    the frame keeps a snapshot of the weights it ran with, and a new frame sees the edit."""
    image = digits.images[0]
    before = process_frame(lenet, FrameRequest(image, "conv2", detail=False))
    trained_kernel = lenet.conv2.weight[4].detach().clone().numpy()
    surgeon = Surgeon(lenet)
    surgeon.apply(FilterEdit("conv2", "conv2", 4, preset("sobel-x").weights))
    with torch.no_grad():
        lenet.conv2.bias.add_(1.0)  # an edit of the bias too, in place
    sums = before.hover.arithmetic(4, 3, 3)  # the first copy to the host happens only now, after the edits
    assert np.array_equal(sums.kernels, trained_kernel)
    assert sums.value == pytest.approx(before.hover.value(4, 3, 3), abs=1e-4)

    after = process_frame(lenet, FrameRequest(image, "conv2", detail=False))
    edited = after.hover.arithmetic(4, 3, 3)
    assert np.array_equal(edited.kernels, lenet.conv2.weight[4].detach().numpy())
    assert not np.array_equal(edited.kernels, trained_kernel)
    assert edited.value == pytest.approx(after.hover.value(4, 3, 3), abs=1e-4)
    assert edited.value != pytest.approx(sums.value, abs=1e-3)

    surgeon.reset()  # and back: the earlier frames still give what they gave
    assert before.hover.arithmetic(4, 3, 3).value == sums.value
    assert after.hover.arithmetic(4, 3, 3).value == edited.value


def test_a_frame_with_a_baseline_hovers_over_the_edited_weights(lenet, digits):
    """The trained weights are put back for the baseline pass only: the hover shows the kernel the map was made
    with."""
    surgeon = Surgeon(lenet)
    surgeon.apply(FilterEdit("conv1", "conv1", 2, preset("sobel-y").weights))
    edited = lenet.conv1.weight[2].detach().clone().numpy()
    frame = process_frame(lenet, FrameRequest(digits.images[1], "conv1", detail=False),
                          baseline=lambda: trained_weights(surgeon))
    assert any(c.name == "conv1" and c.mean_abs_change > 0 for c in frame.changes)
    sums = frame.hover.arithmetic(2, 10, 12)
    assert np.array_equal(sums.kernels, edited)
    assert sums.value == pytest.approx(frame.hover.value(2, 10, 12), abs=1e-4)


def test_unchanged_weights_are_snapshotted_once_and_each_frame_keeps_its_own_values(lenet, digits):
    a = process_frame(lenet, FrameRequest(digits.images[0], "conv2", detail=False))
    b = process_frame(lenet, FrameRequest(digits.images[1], "conv2", detail=False))
    assert a.hover._conv.weight is b.hover._conv.weight  # one copy per weight version, not per frame
    assert a.hover._conv.weight is not lenet.conv2.weight
    expected = _captured(lenet, digits.images[0]).by_name("conv2").output[0].numpy()
    assert np.allclose(a.hover.values, expected, atol=1e-6)  # the later frame did not overwrite the earlier one
    assert not np.allclose(a.hover.values, b.hover.values)


def test_the_host_copy_is_made_once_when_several_threads_hover_at_once(lenet, digits):
    frame = process_frame(lenet, FrameRequest(digits.images[2], "conv2", detail=False))
    start = threading.Barrier(4)
    seen: list[np.ndarray] = []

    def hover() -> None:
        start.wait()
        seen.append(frame.hover.values)

    threads = [threading.Thread(target=hover) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(seen) == 4 and all(s is seen[0] for s in seen)


def test_the_frame_mosaic_and_input_are_rgbx_of_the_stage_mosaic_and_model_view(lenet, digits):
    image = digits.images[4]
    frame = process_frame(lenet, FrameRequest(image, "conv2", detail=False))
    stage = _captured(lenet, image).by_name("conv2")
    rgb, layout = stage_mosaic(stage, max_tiles=256, min_tile=MIN_TILE, max_pixels=1_000_000)
    assert frame.layout == layout and layout.scale > 1
    assert frame.mosaic.shape == (*rgb.shape[:2], 4) and frame.mosaic.dtype == np.uint8
    assert np.array_equal(frame.mosaic, to_rgbx(rgb))
    assert np.array_equal(frame.input_rgbx, to_rgbx(frame.model_input))
