"""Packed convolution weights give the ordinary result bit for bit, and follow every change of weights."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from cnnviz.core.models.packed_conv import (
    MIN_WEIGHT_ELEMENTS,
    pack_conv_weights,
    packing_available,
    unpack_conv_weights,
)

pytestmark = pytest.mark.skipif(not packing_available(), reason="this torch build has no oneDNN packing")


def _net() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 64, 3), nn.ReLU(),  # too small to pack
        nn.Conv2d(64, 128, 3, padding=1), nn.ReLU(),  # 73,728 weights: packed
        nn.Conv2d(128, 128, 3, stride=2, padding=1, bias=False),
    ).eval()


def _packed_layers(model: nn.Module) -> list[nn.Module]:
    return [m for m in model.modules() if getattr(m, "_cnnviz_packed", None) is not None
            and m._cnnviz_packed.weight is not None]


@pytest.fixture
def pair() -> tuple[nn.Sequential, nn.Sequential]:
    plain = _net().to(memory_format=torch.channels_last)
    fast = copy.deepcopy(plain)
    assert pack_conv_weights(fast) == 2
    return plain, fast


def _input(*shape: int) -> torch.Tensor:
    return torch.rand(*shape).contiguous(memory_format=torch.channels_last)


def _same(plain: nn.Module, fast: nn.Module, x: torch.Tensor) -> None:
    with torch.no_grad():
        assert torch.equal(plain(x), fast(x))
        assert torch.equal(plain(x), fast(x))  # the second call runs on the kept packing


@pytest.mark.parametrize("channels_last", [False, True])
def test_packed_layers_give_the_ordinary_result_exactly(pair, channels_last: bool) -> None:
    plain, fast = pair
    x = _input(1, 3, 32, 32)
    if not channels_last:
        plain.to(memory_format=torch.contiguous_format)
        fast.to(memory_format=torch.contiguous_format)
        x = x.contiguous()
    _same(plain, fast, x)
    if channels_last:  # (the CPU policy's layout; for NCHW PyTorch's own call can differ in the last bits,
        assert len(_packed_layers(fast)) == 2  # and then the check keeps the ordinary call)
    assert fast[0].weight.numel() < MIN_WEIGHT_ELEMENTS and "forward" not in fast[0].__dict__
    _same(plain, fast, _input(2, 3, 40, 36))  # another shape packs again
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(2 if threads == 1 else 1)  # PyTorch picks some algorithms by the thread count
        _same(plain, fast, _input(2, 3, 40, 36))
    finally:
        torch.set_num_threads(threads)


def test_every_kind_of_weight_change_is_seen(pair) -> None:
    plain, fast = pair
    x = _input(1, 3, 32, 32)
    assert len(_packed_layers(fast)) == 0
    _same(plain, fast, x)
    assert len(_packed_layers(fast)) == 2
    with torch.no_grad():  # in place, as a kernel edit does
        for model in (plain, fast):
            model[2].weight[5].copy_(torch.ones(64, 3, 3))
    _same(plain, fast, x)
    assert len(_packed_layers(fast)) == 2
    # a new Parameter object:
    replacement = torch.randn(128, 64, 3, 3).contiguous(memory_format=torch.channels_last)
    plain[2].weight = nn.Parameter(replacement.clone(memory_format=torch.preserve_format))
    fast[2].weight = nn.Parameter(replacement.clone(memory_format=torch.preserve_format))
    _same(plain, fast, x)
    assert len(_packed_layers(fast)) == 2
    # .data swapped, which keeps the version counter:
    other = torch.randn(128, 128, 3, 3).contiguous(memory_format=torch.channels_last)
    plain[4].weight.data = other.clone(memory_format=torch.preserve_format)
    fast[4].weight.data = other.clone(memory_format=torch.preserve_format)
    _same(plain, fast, x)
    assert len(_packed_layers(fast)) == 2
    state = {k: v + 1 for k, v in plain.state_dict().items()}
    plain.load_state_dict(state)
    fast.load_state_dict(state)
    _same(plain, fast, x)
    assert len(_packed_layers(fast)) == 2
    assert [len(m._cnnviz_packed.verdicts) for m in _packed_layers(fast)] == [1, 1]  # checked once per layout


def test_a_layer_whose_packed_result_differs_keeps_pytorchs_call(pair, monkeypatch) -> None:
    from cnnviz.core.models import packed_conv

    real = torch.ops.mkldnn._convolution_pointwise.default
    monkeypatch.setattr(packed_conv, "_POINTWISE", lambda *args: real(*args) + 1e-3)  # a packing that is off
    plain, fast = pair
    x = _input(1, 3, 32, 32)
    _same(plain, fast, x)
    assert len(_packed_layers(fast)) == 0
    with torch.no_grad():
        fast[2].weight[0].zero_()
        plain[2].weight[0].zero_()
    _same(plain, fast, x)  # a new weight in a layout found wrong is not packed again
    assert len(_packed_layers(fast)) == 0


def test_hooks_gradients_copies_and_unpacking(pair) -> None:
    plain, fast = pair
    x = _input(1, 3, 32, 32)
    seen: list[torch.Tensor] = []
    handle = fast[2].register_forward_hook(lambda _m, _i, out: seen.append(out))
    with torch.no_grad():
        fast(x)
        fast(x)
    handle.remove()
    with torch.no_grad():
        expected = plain[:3](x)
    assert len(seen) == 2 and all(torch.equal(s, expected) for s in seen)

    xg = x.clone().requires_grad_(True)  # Grad-CAM and saliency take PyTorch's own path
    fast(xg).sum().backward()
    assert xg.grad is not None and fast[2].weight.grad is not None

    twin = copy.deepcopy(fast)
    assert twin[2]._cnnviz_packed.weight is None  # a copy packs its own weights
    _same(plain, twin, x)

    unpack_conv_weights(fast)
    assert not any("forward" in m.__dict__ or "_cnnviz_packed" in m.__dict__ for m in fast.modules())
    _same(plain, fast, x)


def test_the_cpu_policy_packs_resnet18_and_its_frames_stay_the_same(resnet18_pair) -> None:
    """The live app's path: ResNet-18 under the CPU policy packs its large convolutions, and a kernel put
    into one of them (with the trained/edited comparison every such frame makes) gives the same frames."""
    import numpy as np

    from cnnviz.core.engine.frame import FrameRequest, process_frame
    from cnnviz.core.lab.kernels import preset
    from cnnviz.core.lab.surgery import FilterEdit, Surgeon, trained_weights

    plain, fast = resnet18_pair
    plain.to(memory_format=torch.channels_last)
    _same(plain, fast, torch.rand(1, 3, 224, 224))
    assert len(_packed_layers(fast)) >= 10
    rgb = (np.random.default_rng(1).random((224, 224, 3)) * 255).astype(np.uint8)
    edit = FilterEdit("layer3.0.conv1", "layer3.0.conv1", 7, preset("sobel-x").weights)
    surgeons = Surgeon(plain), Surgeon(fast)
    for surgeon in surgeons:
        surgeon.apply(edit)
    for _ in range(2):  # (the second frame runs on the packing the first one left)
        a, b = (process_frame(model, FrameRequest(rgb, "layer3.0.conv1"), lambda s=surgeon: trained_weights(s))
                for model, surgeon in zip((plain, fast), surgeons, strict=True))
        assert np.array_equal(a.hover.values, b.hover.values) and a.top == b.top and a.baseline_top == b.baseline_top
        assert a.changes == b.changes and any(c.mean_abs_change > 0 for c in b.changes)
