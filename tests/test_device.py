from __future__ import annotations

import pytest
import torch

from cnnviz.core.device import available_devices, resolve_device, thread_count_for
from cnnviz.core.errors import DeviceError


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
