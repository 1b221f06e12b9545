"""Dataset exemplars equal a brute-force top-k over the same dataset, boxes included; the disk cache hits,
and misses after a weight change; a scan can be cancelled."""

from __future__ import annotations

import copy
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

import cnnviz
from cnnviz.core.data.datasets import ArrayDataset, load_dataset, load_samples
from cnnviz.core.engine.receptive import receptive_fields
from cnnviz.core.lab.surgery import FilterEdit, Surgeon
from cnnviz.core.teach.exemplars import channel_maxima, patch_grid, patches, sample_inputs, scan
from cnnviz.core.teach.study_common import Cancelled, StudyError

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"


@pytest.fixture(scope="module")
def lenet():
    return cnnviz.load_model("lenet5-mnist", "cpu")


def _brute_force(model, data: ArrayDataset, stage: str, top: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every sample through one capture, sorted by (value desc, index asc); the argmax's receptive field."""
    spec = model.cnnviz_spec
    x, _ = sample_inputs(data, spec, np.arange(len(data)))
    result = cnnviz.capture(model, x)
    output = result.by_name(stage).output
    field = receptive_fields(result.stages)[stage]
    _, height, width = spec.input_shape
    indices, values, boxes = [], [], []
    for c in range(output.shape[1]):
        maps = output[:, c].numpy()
        best = maps.reshape(len(data), -1).max(axis=1)
        order = np.lexsort((np.arange(len(data)), -best))[:top]
        indices.append(order)
        values.append(best[order])
        row = []
        for i in order:
            y, x_ = np.unravel_index(int(np.argmax(maps[i])), maps[i].shape)
            y0, x0, y1, x1 = field.rect(int(y), int(x_), height, width)
            row.append((y0, x0, y1 + 1, x1 + 1))
        boxes.append(row)
    return np.array(indices), np.array(values), np.array(boxes)


@pytest.mark.parametrize("stage", ["relu2", "conv1", "pool2"])
def test_top_k_equals_brute_force_on_the_shipped_digits(lenet, stage):
    data = load_samples("mnist")
    result = scan(lenet, data, stage, top=9, batch_size=37)  # batches that do not divide 200
    indices, values, boxes = _brute_force(lenet, data, stage, 9)
    assert result.n == 200 and result.values.shape == (result.channels, 9)
    np.testing.assert_array_equal(result.indices, indices)
    np.testing.assert_allclose(result.values, values, rtol=1e-5)
    np.testing.assert_array_equal(result.boxes, boxes)
    np.testing.assert_array_equal(result.labels, data.labels[indices])
    assert (result.boxes[..., :2] >= 0).all() and (result.boxes[..., 2:] <= 28).all()
    first = result.top(0)[0]
    assert first.index == indices[0, 0] and first.box == tuple(boxes[0, 0]) and first.label == data.labels[first.index]


@pytest.mark.skipif(not (SHARED / "MNIST" / "raw").is_dir(), reason="../shared/data (real MNIST) is not here")
def test_top_k_equals_brute_force_on_the_mnist_test_digits(lenet):
    data = load_dataset("mnist", SHARED, train=False)
    result = scan(lenet, data, "relu2", top=9)
    indices, values, boxes = _brute_force(lenet, data, "relu2", 9)
    np.testing.assert_array_equal(result.indices, indices)
    np.testing.assert_array_equal(result.boxes, boxes)
    assert result.n == 2000


def test_vector_stage_boxes_are_the_whole_input(lenet):
    result = scan(lenet, load_samples("mnist"), "fc3", top=3)
    assert (result.boxes == np.array([0, 0, 28, 28])).all()
    assert [e.label for e in result.top(7)] == [7, 7, 7]  # the "7" logit's best samples are sevens


def test_patches_are_the_boxes_of_the_model_input(lenet):
    data = load_samples("mnist")
    result = scan(lenet, data, "relu2", top=4)
    cut = patches(result, data, lenet.cnnviz_spec, 5)
    for exemplar, patch in zip(result.top(5), cut, strict=True):
        y0, x0, y1, x1 = exemplar.box
        np.testing.assert_array_equal(patch, data.images[exemplar.index][y0:y1, x0:x1])
    assert patch_grid(result, data, lenet.cnnviz_spec, 5, tile=20).shape == (2 * 22 + 2, 2 * 22 + 2, 3)


def test_current_input_rank_is_its_maximum_over_the_best_samples(lenet):
    data = load_samples("mnist")
    result = scan(lenet, data, "relu2", top=2)
    best = result.top(4)[0]
    x, _ = sample_inputs(data, lenet.cnnviz_spec, [best.index])
    maxima = channel_maxima(lenet, x[0], "relu2")
    assert maxima.shape == (16,)
    assert result.rank(4, float(maxima[4])) == pytest.approx(1.0, rel=1e-5)
    assert result.rank(4, best.value / 2) == pytest.approx(0.5)


def test_disk_cache_hits_and_a_weight_change_misses_it(lenet, tmp_path):
    model = copy.deepcopy(lenet)
    data = load_samples("mnist")
    first = scan(model, data, "relu2", cache_dir=tmp_path)
    assert not first.from_cache and len(list(tmp_path.glob("*.npz"))) == 1
    calls: list[int] = []
    second = scan(model, data, "relu2", cache_dir=tmp_path, progress=lambda done, total: calls.append(done))
    assert second.from_cache and calls == []
    np.testing.assert_array_equal(second.indices, first.indices)
    np.testing.assert_array_equal(second.boxes, first.boxes)
    Surgeon(model).apply(FilterEdit("conv2", "conv2", 3, -np.ones((5, 5), np.float32), None))
    third = scan(model, data, "relu2", cache_dir=tmp_path, progress=lambda done, total: calls.append(done))
    assert not third.from_cache and calls[-1] == 200
    assert third.values[3].max() != first.values[3].max()
    assert len(list(tmp_path.glob("*.npz"))) == 1  # the old weights' scan is replaced, not piled up
    other = scan(model, data.subset(slice(0, 100)), "relu2", cache_dir=tmp_path)  # another dataset: a miss
    assert not other.from_cache and other.n == 100


def test_a_damaged_cache_file_is_a_miss(lenet, tmp_path):
    data = load_samples("mnist")
    scan(lenet, data, "relu1", top=2, cache_dir=tmp_path)
    (path,) = tmp_path.glob("*.npz")
    path.write_bytes(b"not a zip")
    assert not scan(lenet, data, "relu1", top=2, cache_dir=tmp_path).from_cache


def test_cancel_stops_between_batches(lenet):
    seen: list[int] = []
    with pytest.raises(Cancelled):
        scan(lenet, load_samples("mnist"), "relu2", batch_size=50, progress=lambda done, total: seen.append(done),
             cancelled=lambda: len(seen) >= 2)
    assert seen == [50, 100]


def test_pictures_of_another_size_go_through_the_models_preprocessing(tmp_path):
    model = cnnviz.load_model("cifar-convnet", "cpu")
    rng = np.random.default_rng(0)
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        for i in range(3):
            cv2.imwrite(str(tmp_path / name / f"{i}.png"), rng.integers(0, 255, (40, 48, 3), dtype=np.uint8))
    data = load_dataset("folder", tmp_path, train=False)
    result = scan(model, data, "relu1", top=2)
    x, shown = sample_inputs(data, model.cnnviz_spec, [0], displays=True)
    assert x.shape == (1, 3, 32, 32) and shown[0].shape == (32, 32, 3)
    assert result.n == 6 and set(result.labels.ravel()) <= {0, 1}
    assert (result.boxes[..., 2:] <= 32).all()


def test_a_stage_that_is_not_there_is_a_sentence(lenet):
    with pytest.raises(StudyError, match="no stage 'conv7'"):
        scan(lenet, load_samples("mnist"), "conv7")
    with pytest.raises(StudyError, match="channels 0..15"):
        scan(lenet, load_samples("mnist"), "relu2", top=1).top(16)
    assert torch.is_tensor(sample_inputs(load_samples("mnist"), lenet.cnnviz_spec, [])[0])


def test_one_channel_study_is_its_feature_and_its_exemplars_with_patches(lenet, tmp_path):
    from cnnviz.core.teach.features import FeatureSettings
    from cnnviz.core.teach.looks_for import study_channel

    data = load_samples("mnist")
    seen: list[int] = []
    study = study_channel(lenet, data, "relu2", 6, top=9, settings=FeatureSettings(steps=8), cache_dir=tmp_path,
                          progress=lambda done, total: seen.append(done))
    expected = scan(lenet, data, "relu2", top=9)
    assert [e.index for e in study.exemplars] == expected.indices[6].tolist()
    assert study.best == pytest.approx(float(expected.values[6, 0]))
    assert study.percent(study.best / 4) == pytest.approx(25.0)
    assert len(study.patches) == 9 and study.patches[0].shape == (14, 14) and study.feature.shape == (28, 28)
    assert seen[-1] == 100 and seen == sorted(seen)
    assert study.label(study.exemplars[0]) == data.class_names[study.exemplars[0].label]
