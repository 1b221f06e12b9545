"""The shipped digit models read digits as users draw them, not only MNIST digits.

The drawn set is made here: strokes rendered the way the canvas renders them, thin and
thick, small in a corner, slanted, white on black, and 'photographed' on unevenly lit paper.
"""

from __future__ import annotations

import pytest

import cnnviz
from cnnviz.core.data.strokes import drawn_digit_set
from cnnviz.core.engine.inference import run_image


@pytest.mark.parametrize("name", ["lenet5-mnist", "mnist-cnn-mnist"])
def test_drawn_digits_are_recognised(name):
    model = cnnviz.load_model(name, "cpu")
    images, labels, styles = drawn_digit_set(per_class=10, seed=7)
    wrong = [(style, int(label), run_image(model, image, 1).top[0][0])
             for image, label, style in zip(images, labels, styles, strict=True)
             if run_image(model, image, 1).top[0][0] != str(label)]
    accuracy = 1 - len(wrong) / len(labels)
    assert accuracy >= 0.95, f"{name}: {accuracy:.1%} on drawn digits; wrong: {wrong[:10]}"


@pytest.mark.parametrize("name", ["lenet5-mnist", "mnist-cnn-mnist", "mnist-cnn-fashion"])
def test_shipped_models_load_by_name_and_are_marked_trained(name, capsys):
    model = cnnviz.load_model(name, "cpu")
    assert model.cnnviz_spec.trained and len(model.cnnviz_spec.class_names) == 10
