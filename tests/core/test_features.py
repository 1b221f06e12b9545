"""Feature visualisation: each channel's optimised input excites it more than real digits do, stays a
valid picture, reports the activation a plain capture gives, and is cached until the weights change."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
import torch

import cnnviz
from cnnviz.core.data.datasets import load_dataset, load_samples
from cnnviz.core.lab.surgery import FilterEdit, Surgeon
from cnnviz.core.teach.exemplars import sample_inputs
from cnnviz.core.teach.features import FeatureSettings, mean_activation, visualise
from cnnviz.core.teach.study_common import Cancelled, StudyError

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"
SETTINGS = FeatureSettings(steps=128)


@pytest.fixture(scope="module")
def lenet():
    return cnnviz.load_model("lenet5-mnist", "cpu")


@pytest.fixture(scope="module")
def relu2(lenet):
    return visualise(lenet, "relu2", settings=SETTINGS)


def _best_mean(model, data) -> np.ndarray:
    x, _ = sample_inputs(data, model.cnnviz_spec, np.arange(len(data)))
    means = cnnviz.capture(model, x).by_name("relu2").output.mean(dim=(2, 3))
    np.testing.assert_allclose(means[:, 6].numpy(), mean_activation(model, x, "relu2", 6).numpy(), rtol=1e-6)
    return means.max(dim=0).values.numpy()


def test_nearly_every_channel_is_excited_more_than_by_the_best_shipped_digit(lenet, relu2):
    best = _best_mean(lenet, load_samples("mnist"))
    reached = np.array(relu2.activations)
    assert relu2.channels == tuple(range(16))
    assert (reached > best).sum() >= 15, (reached, best)
    assert np.median(reached / best) > 1.5


@pytest.mark.skipif(not (SHARED / "MNIST" / "raw").is_dir(), reason="../shared/data (real MNIST) is not here")
def test_and_more_than_by_the_best_of_the_mnist_test_digits(lenet, relu2):
    best = _best_mean(lenet, load_dataset("mnist", SHARED, train=False))
    assert (np.array(relu2.activations) > best).sum() >= 15


def test_pixels_are_a_valid_grey_picture_and_the_input_is_them_normalised(lenet, relu2):
    spec = lenet.cnnviz_spec
    assert relu2.inputs.shape == (16, 1, 28, 28) and relu2.pixels.shape == (16, 1, 28, 28)
    assert relu2.pixels.min() >= 0.0 and relu2.pixels.max() <= 1.0
    assert relu2.pixels.max() - relu2.pixels.min() > 0.5  # a picture, not a flat grey
    pixels = relu2.inputs.numpy() * spec.std[0] + spec.mean[0]
    np.testing.assert_allclose(pixels, relu2.pixels, atol=1e-5)
    assert relu2.image(3).shape == (28, 28) and relu2.image(3).dtype == np.uint8
    assert relu2.grid(tile=28).shape == (4 * 30 + 2, 4 * 30 + 2, 3)


def test_reported_activation_is_what_capture_gives_for_that_exact_input(lenet, relu2):
    for k, channel in enumerate(relu2.channels):
        stage = cnnviz.capture(lenet, relu2.inputs[k]).by_name("relu2")
        assert relu2.activations[k] == pytest.approx(float(stage.output[0, channel].mean()), rel=1e-5, abs=1e-6)


def test_cached_until_a_kernel_edit_then_computed_again(lenet, relu2):
    calls: list[int] = []
    again = visualise(lenet, "relu2", [2, 5], SETTINGS, progress=lambda done, total: calls.append(done))
    assert calls == [] and again.channels == (2, 5)
    assert torch.equal(again.inputs[1], relu2.inputs[5])
    model = copy.deepcopy(lenet)  # (the shared fixture keeps its weights)
    before = visualise(model, "relu2", [5], FeatureSettings(steps=8))
    surgeon = Surgeon(model)
    surgeon.apply(FilterEdit("conv2", "conv2", 5, np.ones((5, 5), np.float32), None))
    after = visualise(model, "relu2", [5], FeatureSettings(steps=8), progress=lambda done, total: calls.append(done))
    assert calls and calls[-1] == 8  # computed afresh
    assert not torch.equal(before.inputs, after.inputs)
    surgeon.reset()


def test_a_channel_gets_the_same_picture_alone_or_with_others(lenet):
    settings = FeatureSettings(steps=16, seed=3)
    alone = visualise(copy.deepcopy(lenet), "relu2", [4], settings)
    together = visualise(copy.deepcopy(lenet), "relu2", [1, 4, 9], settings)
    np.testing.assert_allclose(alone.pixels[0], together.pixels[1], atol=1e-4)


def test_cancel_stops_between_steps(lenet):
    seen: list[int] = []
    with pytest.raises(Cancelled):
        visualise(copy.deepcopy(lenet), "relu2", [0, 1], FeatureSettings(steps=50, seed=9),
                  progress=lambda done, total: seen.append(done), cancelled=lambda: len(seen) >= 3)
    assert len(seen) == 3


def test_class_objective_makes_the_model_say_each_class(lenet):
    result = visualise(lenet, None, settings=FeatureSettings(objective="class", steps=48))
    assert result.stage == "fc3" and result.channels == tuple(range(10))
    logits = cnnviz.capture(lenet, result.inputs).logits
    assert logits.argmax(1).tolist() == list(range(10))
    assert result.activations == pytest.approx(logits.diagonal().tolist(), rel=1e-5)


def test_neuron_objective_excites_the_centre_more_than_any_shipped_digit(lenet):
    result = visualise(lenet, "relu2", [0, 7], FeatureSettings(objective="neuron", steps=48))
    x, _ = sample_inputs(load_samples("mnist"), lenet.cnnviz_spec, np.arange(200))
    centre = cnnviz.capture(lenet, x).by_name("relu2").output[:, :, 5, 5]
    for k, channel in enumerate(result.channels):
        assert result.scores[k] > float(centre[:, channel].max())


def test_colour_models_get_colour_pictures_in_range():
    model = cnnviz.load_model("cifar-convnet", "cpu")
    result = visualise(model, "relu2", [0, 1], FeatureSettings(steps=4))
    assert result.pixels.shape == (2, 3, 32, 32) and 0 <= result.pixels.min() and result.pixels.max() <= 1
    assert result.image(1).shape == (32, 32, 3)


def test_unknown_stage_channel_or_objective_is_a_sentence(lenet):
    with pytest.raises(StudyError, match="no stage 'conv9'.*conv1"):
        visualise(lenet, "conv9")
    with pytest.raises(StudyError, match="channels 0..15"):
        visualise(lenet, "relu2", [16])
    with pytest.raises(StudyError, match="Unknown objective"):
        visualise(lenet, "relu2", settings=FeatureSettings(objective="dream"))
    with pytest.raises(StudyError, match="no positions"):
        visualise(lenet, "fc1", settings=FeatureSettings(objective="neuron"))


class _Branchy(torch.nn.Module):
    """A model torch.fx cannot trace (its forward branches on the data): capture falls back to hooks."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(1, 4, 3)
        self.relu = torch.nn.ReLU()
        self.fc = torch.nn.Linear(4 * 26 * 26, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.conv(x))
        if x.sum() > 0:
            x = x * 1.0
        return self.fc(x.flatten(1))


def test_a_model_fx_cannot_trace_is_optimised_through_hooks():
    from cnnviz.core.models.zoo import ModelSpec

    torch.manual_seed(0)
    model = _Branchy().eval()
    model.cnnviz_spec = ModelSpec("branchy", "branchy", (1, 28, 28), (0.5,), (0.5,), ("a", "b", "c"))
    assert not cnnviz.capture(model, torch.zeros(1, 28, 28)).traced
    start = visualise(model, "relu", [0, 1], FeatureSettings(steps=1))
    result = visualise(model, "relu", [0, 1], FeatureSettings(steps=32))
    assert all(after > before for after, before in zip(result.activations, start.activations, strict=True))
    for k, channel in enumerate(result.channels):
        stage = cnnviz.capture(model, result.inputs[k]).by_name("relu")
        assert result.activations[k] == pytest.approx(float(stage.output[0, channel].mean()), rel=1e-5)
    classes = visualise(model, None, settings=FeatureSettings(objective="class", steps=32))
    assert classes.stage == "fc"
    assert cnnviz.capture(model, classes.inputs).logits.argmax(1).tolist() == [0, 1, 2]


def test_many_channels_go_in_batches_and_a_full_cache_loses_nothing_asked_for(lenet, monkeypatch):
    import cnnviz.core.teach.features as features

    monkeypatch.setattr(features, "BATCH_VALUES", 3 * 28 * 28)  # 3 channels a batch
    monkeypatch.setattr(features, "MAX_CACHED_VALUES", 4 * 28 * 28)  # less than one request holds
    seen: list[tuple[int, int]] = []
    model = copy.deepcopy(lenet)
    result = visualise(model, "relu2", range(8), FeatureSettings(steps=2, seed=4),
                       progress=lambda done, total: seen.append((done, total)))
    assert result.channels == tuple(range(8)) and result.inputs.shape == (8, 1, 28, 28)
    assert len(seen) == 3 * 2 and seen[-1] == (16, 16) and [d for d, _ in seen] == sorted(d for d, _ in seen)
    one = visualise(model, "relu2", [7], FeatureSettings(steps=2, seed=4))  # cached (the last batch stayed)
    assert torch.equal(one.inputs[0], result.inputs[7])
