"""capture() sees every leaf output a forward hook sees, in order, with the same values."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import cnnviz
from cnnviz.core.errors import InputMismatchError
from cnnviz.core.models.zoo import registry

ZOO = [name for name, spec in registry().items() if spec.family != "trained"]


def hooked_outputs(model: nn.Module, x: torch.Tensor) -> list[tuple[str, torch.Tensor]]:
    """The reference: a plain forward hook on every leaf module, copying at the moment it fires."""
    seen: list[tuple[str, torch.Tensor]] = []
    handles = [m.register_forward_hook(lambda _m, _i, o, n=n: seen.append((n, o.detach().clone())))
               for n, m in model.named_modules() if n and not list(m.children())]
    with torch.no_grad():
        model(x)
    for h in handles:
        h.remove()
    return seen


@pytest.mark.parametrize("name", ZOO)
def test_capture_contains_every_hooked_output_in_order(name):
    model = cnnviz.load_model(name, "cpu", pretrained=False)
    spec = model.cnnviz_spec
    torch.manual_seed(1)
    x = torch.randn(1, *spec.input_shape)
    result = cnnviz.capture(model, x)
    assert result.traced, result.notes
    position = 0
    for hook_name, expected in hooked_outputs(model, x):
        while position < len(result) and not (
            result[position].output.shape == expected.shape and torch.equal(result[position].output, expected)
        ):
            position += 1
        assert position < len(result), f"{hook_name} is missing from the capture of {name} (or out of order)"
        position += 1
    assert result[-1].kind == "softmax"
    assert torch.allclose(result.probabilities.sum(), torch.tensor(1.0), atol=1e-5)


def test_inplace_relu_does_not_overwrite_bn_output():
    model = cnnviz.load_model("resnet18", "cpu", pretrained=False)
    result = cnnviz.capture(model, torch.randn(1, 3, 64, 64))
    assert result.by_name("bn1").output.min() < 0  # resnet's ReLU is inplace=True
    assert result.by_name("relu").output.min() >= 0


def test_module_called_twice_gives_two_stages_and_residual_add_is_visible():
    model = cnnviz.load_model("resnet18", "cpu", pretrained=False)
    names = cnnviz.capture(model, torch.randn(1, 3, 64, 64)).names
    assert "layer1.0.relu" in names and "layer1.0.relu_1" in names
    assert "layer1.0.add" in names
    assert names.index("layer1.0.relu") < names.index("layer1.0.add") < names.index("layer1.0.relu_1")


class Functional(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.fc = nn.Linear(4 * 8 * 8, 3)

    def forward(self, x):
        y = self.conv(x)
        z = F.relu(y, inplace=True)
        z += 1.0
        return self.fc(torch.flatten(z, 1))


def test_functional_relu_and_inplace_add_are_stages_and_do_not_overwrite():
    model = Functional().eval()
    x = torch.randn(1, 1, 8, 8)
    with torch.no_grad():
        conv_ref = model.conv(x)
    result = cnnviz.capture(model, x)
    assert [s.kind for s in result] == ["conv", "relu", "add", "flatten", "linear", "softmax"]
    assert torch.equal(result.by_name("conv").output, conv_ref)
    assert result.by_name("conv").output.min() < 0
    assert result.by_name("conv").module is model.conv
    assert result.by_name("relu").inputs == ("conv",)


class Untraceable(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 3)
        self.relu = nn.ReLU(inplace=True)
        self.fc = nn.Linear(2 * 6 * 6, 2)

    def forward(self, x):
        y = self.conv(x)
        if y.sum() > 1e9:  # data-dependent control flow: fx cannot trace this
            y = y * 0
        return self.fc(self.relu(y).flatten(1))


def test_untraceable_model_falls_back_to_copying_hooks():
    model = Untraceable().eval()
    result = cnnviz.capture(model, torch.randn(1, 1, 8, 8))
    assert not result.traced and result.notes
    assert [s.name for s in result] == ["conv", "relu", "fc", "softmax"]
    assert result.by_name("conv").output.min() < 0  # copied before the in-place ReLU


def test_weight_edits_show_without_retracing():
    model = cnnviz.load_model("lenet5", "cpu")
    x = torch.rand(1, 1, 28, 28)
    before = cnnviz.capture(model, x).by_name("conv1").output.clone()
    with torch.no_grad():
        model.conv1.weight.zero_()
        model.conv1.bias.zero_()
    after = cnnviz.capture(model, x).by_name("conv1").output
    assert not torch.equal(before, after) and after.abs().max() == 0


def test_mismatched_input_names_the_stage():
    model = cnnviz.load_model("lenet5", "cpu")
    with pytest.raises(InputMismatchError, match="fc1"):
        cnnviz.capture(model, torch.rand(1, 1, 40, 40))
    with pytest.raises(InputMismatchError, match="conv1"):
        cnnviz.capture(model, torch.rand(1, 3, 28, 28))


def test_a_frame_can_put_its_secondary_views_off_after_the_forward_pass():
    from cnnviz.core.engine.frame import FrameRequest, process_frame

    model = cnnviz.load_model("lenet5-mnist")
    rgb = np.zeros((28, 28, 3), np.uint8)
    asked = []
    full = process_frame(model, FrameRequest(rgb), details_now=lambda: asked.append(1) or True)
    lean = process_frame(model, FrameRequest(rgb), details_now=lambda: False)
    assert asked == [1] and full.detail and full.thumbnails and full.chain and full.filters is not None
    assert not lean.detail and not lean.thumbnails and not lean.chain and lean.filters is None
    assert np.array_equal(lean.mosaic, full.mosaic) and lean.top == full.top  # the maps and bars are the same


def test_a_detail_frame_hands_over_its_maps_and_bars_before_the_secondary_views():
    from cnnviz.core.engine.frame import FrameRequest, process_frame

    model = cnnviz.load_model("lenet5-mnist")
    rgb = np.zeros((28, 28, 3), np.uint8)
    early = []
    full = process_frame(model, FrameRequest(rgb), early=early.append)
    assert len(early) == 1 and not early[0].detail and not early[0].thumbnails and early[0].filters is None
    assert full.detail and full.thumbnails and full.stamp == early[0].stamp
    assert np.array_equal(early[0].mosaic, full.mosaic) and early[0].top == full.top
    early.clear()
    process_frame(model, FrameRequest(rgb, detail=False), early=early.append)
    assert early == []  # nothing to hand over early when there are no secondary views to build


def test_warm_up_traces_the_model_once_and_leaves_it_as_it_was():
    """A model is warmed up when it loads, so the first picture a user sees is not the slow one."""
    from cnnviz.core.engine import capture as capture_module
    from cnnviz.core.engine.inference import run_image, warm_up

    model = cnnviz.load_model("lenet5-mnist", "cpu")
    weights = {k: v.clone() for k, v in model.state_dict().items()}
    traced = []
    real = capture_module.Capturer

    class Counting(real):  # type: ignore[misc, valid-type]
        def __init__(self, m):  # noqa: ANN001
            traced.append(m)
            super().__init__(m)

    capture_module.Capturer = Counting
    try:
        warm_up(model)
        assert traced == [model]  # the warm-up traced it...
        run_image(model, np.full((28, 28, 3), 255, np.uint8))
    finally:
        capture_module.Capturer = real
    assert traced == [model]  # ...and the first real frame reused the trace
    assert all(torch.equal(weights[k], v) for k, v in model.state_dict().items())


def test_a_model_is_freed_once_nobody_holds_it_whatever_it_was_shown_with():
    """The capture cache, the filter grids and the hover's weight snapshots are kept per model while it
    lives and never keep it alive: the app dropped none of the models it switched away from, traced graph
    and weights included (the capturer cached for a model held that model). A frame outlives its model."""
    import gc
    import weakref

    from cnnviz.core.engine.frame import FrameRequest, process_frame

    model = cnnviz.load_model("lenet5-mnist")
    result = process_frame(model, FrameRequest(np.zeros((28, 28, 3), np.uint8)))
    assert result.filters is not None and result.hover.is_conv  # (the caches were used)
    gone = weakref.ref(model)
    del model
    gc.collect()
    assert gone() is None
    assert result.hover.arithmetic(0, 0, 0) is not None  # the frame keeps what it shows
