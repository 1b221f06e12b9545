"""Adversarial inputs (Captum's FGSM and PGD in pixel space): PGD at eps 0.3 flips the shipped digits with
valid pixels, targeted PGD reaches its class, and the tensors kept are the ones the model was given."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from captum.robust import PGD

import cnnviz
from cnnviz.core.data.datasets import load_samples
from cnnviz.core.data.imageio import to_rgb_uint8
from cnnviz.core.engine.preprocess import prepare
from cnnviz.core.teach.adversarial import (
    AttackCancelledError,
    AttackError,
    adversarial_picture,
    attack,
    attack_batch,
    margin_loss,
    perturbation_picture,
    resolve_class,
)


@pytest.fixture(scope="module")
def lenet():
    return cnnviz.load_model("lenet5-mnist", "cpu")


@pytest.fixture(scope="module")
def digits(lenet):
    """The 200 shipped MNIST digits as model inputs (normalised), as the app gives them to the model."""
    data = load_samples("mnist")
    return torch.stack([prepare(to_rgb_uint8(image), lenet.cnnviz_spec).tensor for image in data.images])


def _scale(model):
    spec = model.cnnviz_spec
    return torch.tensor(spec.mean).view(-1, 1, 1), torch.tensor(spec.std).view(-1, 1, 1)


@pytest.mark.filterwarnings("error")  # nothing for stderr (Captum's gradient warning included)
def test_pgd_at_eps_03_flips_most_digits_with_valid_pixels(lenet, digits):
    results = attack_batch(lenet, digits, "pgd", 0.3)
    assert len(results) == 200
    assert np.mean([r.flipped for r in results]) > 0.9
    mean, std = _scale(lenet)
    for r in results:
        assert 0.0 <= float(r.adversarial_pixels.min()) and float(r.adversarial_pixels.max()) <= 1.0
        assert r.linf <= 0.3 + 1e-6
        assert torch.allclose(r.adversarial, (r.adversarial_pixels - mean) / std, atol=1e-6)
        assert torch.allclose(r.perturbation, r.adversarial_pixels - r.pixels)
    with torch.no_grad():  # "after" is what the model says about exactly the tensor kept
        after = torch.softmax(lenet(torch.stack([r.adversarial for r in results[:20]])), 1)
    assert np.allclose(after.numpy(), [r.after for r in results[:20]], atol=1e-5)


def test_targeted_pgd_reaches_the_target(lenet, digits):
    results = attack_batch(lenet, digits[:60], "pgd", 0.3, target=3)
    others = [r for r in results if r.class_before != 3]
    assert len(others) > 40 and np.mean([r.reached for r in others]) > 0.9
    assert all(r.target == 3 and r.to_json()["target_probability"] == round(r.after[3], 6) for r in others)


@pytest.mark.filterwarnings("ignore:Input Tensor 0 did not already require gradients")
def test_stepwise_pgd_is_captums_pgd_in_one_call(lenet, digits):
    mean, std = _scale(lenet)
    x = digits[:16]
    pixels = (x * std + mean).clamp(0, 1)
    labels = lenet(x).argmax(1)
    pgd = PGD(lambda p: lenet((p - mean) / std), margin_loss, lower_bound=0.0, upper_bound=1.0)
    ours = attack_batch(lenet, x, "pgd", 0.2, steps=10)
    reference = pgd.perturb(pixels, radius=0.2, step_size=ours[0].step_size, step_num=10, target=labels)
    assert ours[0].step_size == pytest.approx(0.05)  # 2.5 eps / steps
    assert torch.allclose(torch.stack([r.adversarial_pixels for r in ours]), reference, atol=1e-6)


@pytest.mark.filterwarnings("error")
def test_fgsm_moves_each_pixel_by_eps_unless_clipped(lenet, digits):
    r = attack(lenet, digits[7], "fgsm", 0.25)
    delta, adv = r.perturbation, r.adversarial_pixels
    unclipped = (adv > 0) & (adv < 1)
    moved = delta[unclipped].abs()
    assert torch.all((moved - 0.25).abs() < 1e-6)  # a sign step of eps: no pixel in between
    assert torch.all(delta.abs() <= 0.25 + 1e-6) and unclipped.float().mean() > 0.3
    assert r.steps == 1 and r.step_size == 0.25


def test_eps_zero_changes_nothing(lenet, digits):
    r = attack(lenet, digits[0], "pgd", 0.0)
    assert torch.equal(r.adversarial_pixels, r.pixels) and not r.flipped
    assert torch.allclose(r.adversarial, r.input, atol=1e-6)


def test_progress_and_cancel(lenet, digits):
    seen: list[float] = []
    attack(lenet, digits[0], "pgd", 0.1, steps=5, progress=lambda f, m: seen.append(f))
    assert seen == pytest.approx([0.2, 0.4, 0.6, 0.8, 1.0])
    asked = []
    with pytest.raises(AttackCancelledError):
        attack(lenet, digits[0], "pgd", 0.1, steps=5, cancelled=lambda: asked.append(1) or len(asked) > 2)
    assert len(asked) == 3


@pytest.mark.parametrize("options,message", [
    ({"eps": -0.1}, "outside 0..1"), ({"eps": 1.5}, "outside 0..1"), ({"eps": float("nan")}, "outside 0..1"),
    ({"steps": 0}, "at least 1"), ({"target": 10}, "out of range"), ({"method": "cw"}, "one of fgsm, pgd"),
    ({"step_size": 0.5}, "between 0 and epsilon")])
def test_bad_options_are_sentences(lenet, digits, options, message):
    kwargs = {"eps": 0.1, **options}
    with pytest.raises(AttackError, match=message):
        attack(lenet, digits[0], **kwargs)


def test_classes_by_name_or_index():
    assert resolve_class(("cat", "dog"), "dog") == 1 and resolve_class(("cat", "dog"), "0") == 0
    with pytest.raises(AttackError, match="not a class"):
        resolve_class(("cat", "dog"), "cow")
    with pytest.raises(AttackError, match="classes 0..1"):
        resolve_class(("cat", "dog"), 2)


def test_margin_loss_is_the_best_other_logit_minus_the_labels():
    logits = torch.tensor([[1.0, 5.0, 2.0], [0.0, -1.0, 3.0]])
    assert margin_loss(logits, torch.tensor([1, 0])).tolist() == [-3.0, 3.0]


def test_pictures(lenet, digits):
    r = attack(lenet, digits[1], "pgd", 0.2, steps=4)
    adv = adversarial_picture(r)
    assert adv.shape == (28, 28) and adv.dtype == np.uint8
    assert np.array_equal(adv, np.round(r.adversarial_pixels[0].numpy() * 255).astype(np.uint8))
    ramp = torch.linspace(-0.2, 0.2, 3).view(1, 1, 3).expand(1, 2, 3).contiguous()
    crafted = dataclasses.replace(r, perturbation=ramp)
    picture = perturbation_picture(crafted, scale=2)
    assert picture.shape == (4, 6, 3)
    assert picture[0, 0].tolist() == [5, 48, 97] and picture[0, 5].tolist() == [103, 0, 31]  # -eps, +eps
    assert min(picture[0, 2].tolist()) >= 240  # no change: white (the map's middle)


def test_an_attack_made_inside_inference_mode(lenet, digits):
    """The app's worker runs frames under torch.inference_mode; an attack job may start inside it."""
    with torch.inference_mode():
        x = digits[2].clone()  # an inference tensor, as a frame's input is there
        r = attack(lenet, x, "pgd", 0.3, steps=5)
    assert r.flipped and r.linf <= 0.3 + 1e-6


def test_explain_and_compare_take_the_exact_adversarial_input(lenet, digits):
    """The Attack view's "Use as input" hands the views the exact tensor: an explanation or comparison of it
    speaks of the class the attack reached, which preparing its picture again can undo."""
    from cnnviz.core.teach.compare import compare
    from cnnviz.core.teach.explain import explain

    results = attack_batch(lenet, digits[:40], "pgd", 0.3)
    names = lenet.cnnviz_spec.class_names
    undone = 0
    for r in results:
        if not r.flipped:
            continue
        picture = adversarial_picture(r)
        reached = int(np.argmax(r.after))
        exact = explain(lenet, picture, "saliency", tensor=r.adversarial)
        assert exact.target == reached and abs(exact.probability - r.after[reached]) < 1e-5
        again = explain(lenet, picture, "saliency")
        undone += again.target != reached
        side = compare(lenet, picture, picture, None, tensor_a=r.input, tensor_b=r.adversarial)
        assert side.top_a[0][0] == names[int(np.argmax(r.before))] and side.top_b[0][0] == names[reached]
    assert undone >= 1  # (the case this is for: the picture prepared again is not the attack's input)
