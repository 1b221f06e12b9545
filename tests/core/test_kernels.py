"""Kernel presets, the JSON format, and agreement with what torch computes in a conv layer."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from cnnviz.core.errors import KernelError
from cnnviz.core.lab.kernels import (
    EDGE4_BANK,
    PRESETS,
    Kernel,
    conv_same_padding,
    dump_bank,
    load_bank,
    parse_bank,
    preset,
    resolve_kernel,
    run_pipeline,
    save_bank,
)

RNG = np.random.default_rng(0)
IMAGE = RNG.random((33, 47), dtype=np.float32)


def reference(image: np.ndarray, kernel: np.ndarray, padding: str, stride: int = 1) -> np.ndarray:
    """What a torch conv layer computes (the pipeline runs on OpenCV; a network on torch)."""
    x = torch.from_numpy(image)[None, None]
    if padding == "same":
        x = F.pad(x, conv_same_padding(*kernel.shape))
    return F.conv2d(x, torch.from_numpy(kernel)[None, None], stride=stride)[0, 0].numpy()


@pytest.mark.parametrize("padding", ["same", "valid"])
@pytest.mark.parametrize("name", sorted(PRESETS))
def test_presets_agree_with_filter2d(name, padding):
    result = run_pipeline(IMAGE, [preset(name)], padding, pool=1)
    np.testing.assert_allclose(result.conv[0], reference(IMAGE, PRESETS[name], padding), atol=1e-4)


@pytest.mark.parametrize("padding", ["same", "valid"])
@pytest.mark.parametrize("height", range(1, 10))
def test_random_kernels_of_every_size_agree_with_filter2d(height, padding):
    for width in range(1, 10):
        kernel = RNG.normal(size=(height, width)).astype(np.float32)
        result = run_pipeline(IMAGE, [Kernel("k", kernel)], padding, pool=1)
        np.testing.assert_allclose(result.conv[0], reference(IMAGE, kernel, padding), atol=1e-4)


def test_edge4_presets_are_the_lesson_matrices():
    v = np.array([[-1, -1, 1, 1]] * 4, np.float32)
    assert np.array_equal(PRESETS["edge4-v"], v)
    assert np.array_equal(PRESETS["edge4-v-neg"], -v)
    assert np.array_equal(PRESETS["edge4-h"], v.T)
    assert np.array_equal(PRESETS["edge4-h-neg"], -v.T)
    assert [k.name for k in resolve_kernel("edge4")] == list(EDGE4_BANK)
    assert np.array_equal(PRESETS["sobel-x"], [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]])
    assert np.array_equal(PRESETS["sobel-y"], [[-1, -2, -1], [0, 0, 0], [1, 2, 1]])


@pytest.mark.parametrize("padding", ["same", "valid"])
@pytest.mark.parametrize("stride", [1, 2, 3])
@pytest.mark.parametrize("pool", [1, 2, 3])
@pytest.mark.parametrize("kind", ["max", "avg"])
def test_stride_and_pooling_agree_with_torch(padding, stride, pool, kind):
    kernel = RNG.normal(size=(4, 3)).astype(np.float32)
    result = run_pipeline(IMAGE, [Kernel("k", kernel)], padding, stride=stride, pool=pool, pool_kind=kind)
    conv = reference(IMAGE, kernel, padding, stride)
    np.testing.assert_allclose(result.conv[0], conv, atol=1e-4)
    relu = torch.relu(torch.from_numpy(conv))[None, None]
    if pool > 1:
        relu = (F.max_pool2d if kind == "max" else F.avg_pool2d)(relu, pool)
    np.testing.assert_allclose(result.pool[0], relu[0, 0].numpy(), atol=1e-5)


def test_relu_pool_stride():
    result = run_pipeline(IMAGE, [preset("sobel-x")], "same", stride=2, pool=2, pool_kind="max")
    assert result.conv.shape == (1, 17, 24)
    assert (result.relu >= 0).all() and np.array_equal(result.relu, np.maximum(result.conv, 0))
    assert result.pool.shape == (1, 8, 12)
    assert result.pool[0, 0, 0] == result.relu[0, :2, :2].max()
    avg = run_pipeline(IMAGE, [preset("sobel-x")], "same", pool=2, pool_kind="avg")
    assert np.isclose(avg.pool[0, 0, 0], avg.relu[0, :2, :2].mean())


def test_bank_round_trip(tmp_path):
    bank = [preset("sobel-x"), preset("edge4-v"), Kernel("odd", np.array([[0.5, -2.25e-3]], np.float32))]
    path = tmp_path / "bank.json"
    save_bank(path, bank)
    loaded = load_bank(path)
    assert [k.name for k in loaded] == [k.name for k in bank]
    for a, b in zip(bank, loaded, strict=True):
        assert np.array_equal(a.weights, b.weights)


@pytest.mark.parametrize("text,reason", [
    ('{"kernels": [{"name": "a", "weights": [[NaN]]}]}', "NaN"),
    ('[[Infinity, 1]]', "Infinity"),
    ('[[1e999]]', "finite"),
    ('[["x", 1]]', "not a number"),
    ('[[1, 2], [3]]', "rectangular"),
    (json.dumps([[0] * 10] * 10), "outside"),
    ("[" * 100000 + "]" * 100000, "nested"),
    ("{not json", "not valid JSON"),
    ("[[" + "1" * 5000 + "]]", "Python can read"),  # an integer Python refuses to convert
    ('{"kernels": []}', "no kernels"),
    ('[[true]]', "not a number"),
])
def test_bad_kernel_json_is_refused_with_a_reason(text, reason):
    with pytest.raises(KernelError, match=reason):
        parse_bank(text, "bank.json")


def test_failed_save_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "bank.json"
    save_bank(path, [preset("sobel-x")])
    before = path.read_bytes()

    def broken(*_a, **_k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("os.fsync", broken)
    with pytest.raises(OSError):
        save_bank(path, [preset("emboss")])
    assert path.read_bytes() == before
    assert list(tmp_path.iterdir()) == [path]


finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, width=32)


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 9), st.integers(1, 9), st.data())
def test_json_round_trip_is_identity(h, w, data):
    values = np.array(data.draw(st.lists(finite, min_size=h * w, max_size=h * w)), np.float32).reshape(h, w)
    loaded = parse_bank(dump_bank([Kernel("k", values)]))
    assert np.array_equal(loaded[0].weights, values)


@settings(max_examples=40, deadline=None)
@given(st.sampled_from([float("nan"), float("inf"), float("-inf")]), st.integers(0, 8))
def test_any_non_finite_value_is_refused(bad, index):
    values = [[0.0] * 3 for _ in range(3)]
    values[index // 3][index % 3] = bad
    with pytest.raises(KernelError):
        parse_bank(json.dumps({"kernels": [{"name": "k", "weights": values}]}))
