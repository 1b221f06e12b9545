"""Dataset samples predicted in one batch get the class the live view gives each of them as its input."""

from __future__ import annotations

import numpy as np
import pytest

import cnnviz
from cnnviz.core.data.datasets import load_dataset
from cnnviz.core.data.imageio import to_rgb_uint8
from cnnviz.core.engine.inference import run_image
from cnnviz.core.train.evaluation import predict_samples


@pytest.mark.parametrize("name,dataset", [("lenet5-mnist", "samples-mnist"), ("mnist-cnn-fashion", "samples-fashion")])
def test_batched_predictions_agree_with_run_image_on_every_shipped_sample(name, dataset):
    model = cnnviz.load_model(name, "cpu")
    data = load_dataset(dataset, None, train=False)
    names = model.cnnviz_spec.class_names
    predicted = predict_samples(model, data.images)
    assert predicted.shape == (len(data.images),) == (200,) and predicted.dtype == np.int64
    one_by_one = [names.index(run_image(model, image, 1).top[0][0]) for image in data.images]
    assert predicted.tolist() == one_by_one
    shown = [names.index(run_image(model, to_rgb_uint8(image), 1).top[0][0]) for image in data.images[:40]]
    assert predicted[:40].tolist() == shown  # the same picture as RGB (as a view shows it) gives the same class
    assert (predicted == data.labels).mean() > 0.7  # a trained model: not agreement on nonsense


def test_no_samples_no_predictions():
    model = cnnviz.load_model("lenet5-mnist", "cpu")
    out = predict_samples(model, load_dataset("samples-mnist", None, train=False).images[:0])
    assert out.shape == (0,) and out.dtype == np.int64
