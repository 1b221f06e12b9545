from __future__ import annotations

import pytest
import torch

from cnnviz.core.errors import DeviceError
from cnnviz.core.models.device import available_devices, resolve_device, thread_count_for


def test_auto_and_cpu():
    assert resolve_device("cpu") == torch.device("cpu")
    expected = "cuda" if torch.cuda.is_available() else ("mps" if "mps" in available_devices() else "cpu")
    assert resolve_device("auto").type == expected


@pytest.mark.parametrize("name", ["cuda:99", "tpu", "cuda:x"])
def test_missing_device_is_a_sentence(name):
    with pytest.raises(DeviceError) as info:
        resolve_device(name)
    assert "\n" not in str(info.value)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_without_gpu_says_so():
    with pytest.raises(DeviceError, match="no usable CUDA GPU"):
        resolve_device("cuda")


def test_thread_policy_small_models_use_one_thread():
    assert thread_count_for(500_000, cores=2) == 1
    assert thread_count_for(2_000_000_000, cores=2) == 2


def test_large_models_go_channels_last_and_every_view_still_agrees(resnet18_pair):
    """ResNet-18 under the CPU policy runs channels-last; the frame, its hover data, the filters and the
    kernel surgery give what the contiguous model gives."""
    import numpy as np

    from cnnviz.core.engine.frame import FrameRequest, process_frame
    from cnnviz.core.lab.kernels import preset
    from cnnviz.core.lab.surgery import FilterEdit, Surgeon

    plain, fast = resnet18_pair
    assert fast.conv1.weight.is_contiguous(memory_format=torch.channels_last)
    rgb = (np.random.default_rng(0).random((240, 300, 3)) * 255).astype(np.uint8)
    for stage in ("layer1.0.conv1", "layer2.0.add", "fc"):
        a = process_frame(plain, FrameRequest(rgb, stage))
        b = process_frame(fast, FrameRequest(rgb, stage))
        assert a.selected == b.selected == stage
        assert np.allclose(a.hover.values, b.hover.values, atol=1e-3, equal_nan=True)
        assert [t[0] for t in a.top] == [t[0] for t in b.top]
        assert a.hover.is_conv == b.hover.is_conv
        if a.hover.is_conv:  # the arithmetic reads the channels-last input and weights
            sa, sb = a.hover.arithmetic(3, 5, 7), b.hover.arithmetic(3, 5, 7)
            assert sa.value == pytest.approx(sb.value, abs=1e-3) and np.allclose(sa.kernels, sb.kernels)
            assert sb.value == pytest.approx(b.hover.value(3, 5, 7), abs=1e-3)
        assert np.abs(a.mosaic.astype(int) - b.mosaic.astype(int)).max() <= 4  # colour steps of rounding
    surgeon = Surgeon(fast)
    before = {k: v.clone() for k, v in fast.state_dict().items()}
    surgeon.apply(FilterEdit("layer1.0.conv1", "layer1.0.conv1", 3, preset("sobel-x").weights))
    surgeon.reset()
    assert all(torch.equal(before[k], v) for k, v in fast.state_dict().items())
