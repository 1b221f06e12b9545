"""The embedding map: penultimate features of real digits separate the classes in 2-D (t-SNE better than PCA),
a sample placed on the map lands on its own point, features are cached per weights + dataset + stage."""

from __future__ import annotations

import copy
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import cnnviz
from cnnviz.core.data.datasets import load_dataset, load_samples
from cnnviz.core.data.imageio import to_rgb_uint8
from cnnviz.core.engine.preprocess import prepare
from cnnviz.core.teach.embedding import (
    EmbeddingCancelledError,
    EmbeddingError,
    FeatureSet,
    clear_cache,
    compute_features,
    default_embedding_stage,
    embedding_map,
    one_nn_accuracy,
    place,
    place_input,
    project,
    weights_key,
)
from cnnviz.core.teach.embedding_drawing import CLASS_PALETTE, class_colour, draw_map

SHARED_MNIST = Path(__file__).resolve().parents[3] / "shared" / "data"


@pytest.fixture(scope="module")
def lenet():
    return cnnviz.load_model("lenet5-mnist", "cpu")


@pytest.fixture(scope="module")
def digits():
    return load_samples("mnist")


def _input(model, image):
    return prepare(to_rgb_uint8(image), model.cnnviz_spec).tensor


def test_the_default_stage_is_the_one_that_feeds_the_classifier(lenet):
    assert default_embedding_stage(lenet) == "relu4"  # fc3 (the classifier) takes relu4's 84 values
    mnist_cnn = cnnviz.load_model("mnist-cnn", "cpu")
    assert default_embedding_stage(mnist_cnn) == "relu4"  # fc2 takes dropout4, an eval-mode no-op on relu4


@pytest.mark.filterwarnings("error")  # scikit-learn and capture say nothing (nothing reaches stderr)
def test_pca_of_the_penultimate_features_separates_the_digits_and_tsne_better(lenet, digits):
    pca = embedding_map(lenet, digits, method="pca")
    assert pca.points.shape == (200, 2) and pca.points.dtype == np.float32 and pca.stage == "relu4"
    assert pca.indices.tolist() == list(range(200)) and pca.labels.tolist() == digits.labels.tolist()
    assert pca.features.shape == (200, 84) and pca.placement == "exact"
    assert 0 < pca.misclassified.sum() < 10  # LeNet-5 gets a few of the shipped digits wrong
    pca_accuracy = one_nn_accuracy(pca.points, pca.labels)
    assert pca_accuracy > 0.5  # chance is 0.1
    tsne = embedding_map(lenet, digits, method="tsne")
    assert tsne.placement == "neighbours"
    assert one_nn_accuracy(tsne.points, tsne.labels) > max(pca_accuracy + 0.15, 0.85)
    pixels = embedding_map(lenet, digits, stage="conv1", method="pca")  # early features separate less
    assert one_nn_accuracy(pixels.points, pixels.labels) < pca_accuracy


@pytest.mark.skipif(not (SHARED_MNIST / "MNIST").is_dir(), reason="the shared MNIST test digits are not here")
def test_on_real_mnist_test_digits(lenet):
    data = load_dataset("mnist", SHARED_MNIST, train=False)
    pca = embedding_map(lenet, data, method="pca", max_samples=600)
    assert len(pca.points) == 600 and pca.indices[-1] == len(data) - 1  # spread over the whole split
    assert (pca.labels == data.labels[pca.indices]).all()
    tsne = embedding_map(lenet, data, method="tsne", max_samples=600)
    pca_accuracy = one_nn_accuracy(pca.points, pca.labels)
    assert 0.6 < pca_accuracy < one_nn_accuracy(tsne.points, tsne.labels)


def test_a_sample_placed_by_pca_lands_exactly_on_its_point(lenet, digits):
    pca = embedding_map(lenet, digits, method="pca")
    span = np.ptp(pca.points, axis=0).max()
    for row in (0, 57, 199):
        spot = place_input(lenet, pca, _input(lenet, digits.images[row]))
        assert spot.how == "exact" and spot.neighbours == ()
        assert np.abs(np.array(spot.point) - pca.points[row]).max() < 1e-4 * span
        assert spot.predicted == pca.predicted[row]


def test_a_sample_placed_on_a_tsne_map_lands_next_to_its_own_point(lenet, digits):
    tsne = embedding_map(lenet, digits, method="tsne")
    span = np.ptp(tsne.points, axis=0).max()
    for row in (3, 120):
        spot = place_input(lenet, tsne, _input(lenet, digits.images[row]))
        assert spot.how == "neighbours" and spot.neighbours[0] == row
        assert np.linalg.norm(np.array(spot.point) - tsne.points[row]) < 0.02 * span


def test_a_new_input_goes_to_the_inverse_distance_mean_of_its_nearest_samples():
    rng = np.random.default_rng(0)
    features = rng.normal(size=(40, 6)).astype(np.float32)
    feats = FeatureSet(features, np.arange(40) % 4, np.arange(40) % 4, np.arange(40), "x", ("a", "b", "c", "d"),
                       "synthetic-neighbours")
    emb = project(feats, "tsne", neighbours=3)
    query = (features[0] + features[1]) / 2 + 0.01
    spot = place(emb, query)
    distances = np.linalg.norm(features - query, axis=1)
    rows = np.argsort(distances)[:3]
    weights = 1 / distances[rows]
    expected = (emb.points[rows] * weights[:, None]).sum(0) / weights.sum()
    assert sorted(spot.neighbours) == sorted(rows.tolist())
    assert np.allclose(spot.point, expected, atol=1e-4)
    with pytest.raises(EmbeddingError, match="does not fit this map"):
        place(emb, np.zeros(5))


def test_features_are_cached_per_weights_and_in_a_folder(lenet, digits, tmp_path):
    clear_cache()
    messages: list[tuple[float, str]] = []
    first = compute_features(lenet, digits, progress=lambda f, m: messages.append((f, m)), batch_size=64,
                             cache_dir=tmp_path)
    fractions = [f for f, _ in messages]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0 and len(fractions) == 4  # 4 batches of 64
    assert compute_features(lenet, digits) is first  # in memory
    assert len(list(tmp_path.glob("features-*.npz"))) == 1
    clear_cache()
    messages.clear()
    again = compute_features(lenet, digits, progress=lambda f, m: messages.append((f, m)), cache_dir=tmp_path)
    assert messages == [(1.0, "features from the cache")]
    assert np.array_equal(again.features, first.features) and np.array_equal(again.predicted, first.predicted)
    edited = copy.deepcopy(lenet)
    edited.cnnviz_spec = lenet.cnnviz_spec
    with torch.no_grad():
        edited.conv1.weight[0] *= -1  # a kernel edited in the lab: another network, another map
    other = compute_features(edited, digits)
    assert other.key != first.key and not np.allclose(other.features, first.features)
    assert project(first).key == first.key and first.key.startswith(weights_key(lenet))
    assert not first.key.startswith(weights_key(edited))


def test_cancelling_stops_the_features(lenet, digits):
    clear_cache()
    calls = []

    def cancelled() -> bool:
        calls.append(1)
        return len(calls) > 1  # after the first batch

    with pytest.raises(EmbeddingCancelledError):
        compute_features(lenet, digits, batch_size=50, cancelled=cancelled)
    assert len(calls) == 2


def test_bad_requests_are_sentences(lenet, digits, monkeypatch):
    with pytest.raises(EmbeddingError, match="'conv9' is not a stage of lenet5-mnist; one of conv1, relu1"):
        compute_features(lenet, digits, "conv9")
    with pytest.raises(EmbeddingError, match="one of pca, tsne, umap"):
        embedding_map(lenet, digits, method="mds")
    monkeypatch.setitem(sys.modules, "umap", None)  # as if umap-learn were not installed
    with pytest.raises(EmbeddingError, match=r"pip install cnnviz\[umap\]"):
        embedding_map(lenet, digits, method="umap")


def test_one_nn_accuracy_counts_the_nearest_other_point():
    together = np.array([[0, 0], [0, 1], [10, 0], [10, 1]], np.float32)
    assert one_nn_accuracy(together, np.array([0, 0, 1, 1])) == 1.0
    assert one_nn_accuracy(together, np.array([0, 1, 0, 1])) == 0.0


def test_the_picture_shows_classes_crosses_and_the_star(lenet, digits):
    pca = embedding_map(lenet, digits, method="pca")
    spot = place_input(lenet, pca, _input(lenet, digits.images[10]))
    image = draw_map(pca, (800, 600), spot)
    assert image.shape == (600, 800, 3) and image.dtype == np.uint8
    for label in range(10):  # every class's colour is on the map
        assert (image == np.array(class_colour(label), np.uint8)).all(2).sum() > 20
    assert (image == np.array((255, 215, 0), np.uint8)).all(2).sum() > 40  # the star
    assert len(set(CLASS_PALETTE)) == 10 and class_colour(13) == CLASS_PALETTE[3]


def test_another_datasets_classes_mark_no_sample_misclassified(lenet):
    clothes = load_samples("fashion")  # through the digit model: its classes are not the dataset's
    emb = embedding_map(lenet, clothes, method="pca", max_samples=60)
    assert not emb.same_classes and emb.misclassified.sum() == 0
    assert (emb.predicted >= 0).all() and len(set(emb.predicted.tolist())) > 1  # it still says a digit for each
    assert load_samples("mnist").class_names == lenet.cnnviz_spec.class_names


@pytest.mark.filterwarnings("error")
def test_umap_when_it_is_installed(lenet, digits):
    pytest.importorskip("umap", reason="umap-learn (the optional extra cnnviz[umap]) is not installed")
    emb = embedding_map(lenet, digits, method="umap")
    assert emb.points.shape == (200, 2) and emb.placement == "neighbours"
    assert one_nn_accuracy(emb.points, emb.labels) > 0.85
    spot = place_input(lenet, emb, _input(lenet, digits.images[4]))
    assert spot.neighbours[0] == 4
