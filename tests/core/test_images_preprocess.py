"""Image files are read safely, and preprocessing gives every model the tensor it expects."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cnnviz.core.data.imageio import read_image, write_png
from cnnviz.core.data.strokes import demo_digit, render
from cnnviz.core.engine.preprocess import prepare, prepare_digit
from cnnviz.core.errors import ImageError
from cnnviz.core.models.zoo import get_spec


def save(path, array):
    ok, data = cv2.imencode(path.suffix, array)
    assert ok
    data.tofile(str(path))
    return path


def test_non_ascii_path_and_bgr_to_rgb(tmp_path):
    bgr = np.zeros((10, 12, 3), np.uint8)
    bgr[:, :, 0] = 255  # blue in OpenCV's order
    image = read_image(save(tmp_path / "ünïcødé 数字.png", bgr))
    assert image.rgb.shape == (10, 12, 3) and image.rgb[0, 0].tolist() == [0, 0, 255]


def test_sixteen_bit_grey_and_alpha(tmp_path):
    grey16 = (np.arange(100, dtype=np.uint16).reshape(10, 10) * 600)
    image = read_image(save(tmp_path / "g16.png", grey16))
    assert image.rgb.dtype == np.uint8 and any("16-bit" in n for n in image.notes)
    rgba = np.zeros((8, 8, 4), np.uint8)
    rgba[:4, :, 3] = 255
    image = read_image(save(tmp_path / "a.png", rgba))
    assert image.rgb[7, 0].tolist() == [255, 255, 255] and image.rgb[0, 0].tolist() == [0, 0, 0]


@pytest.mark.parametrize("content,reason", [
    (b"", "empty"), (b"not an image at all" * 10, "not an image"),
])
def test_bad_image_files(tmp_path, content, reason):
    path = tmp_path / "bad.png"
    path.write_bytes(content)
    with pytest.raises(ImageError, match=reason):
        read_image(path)


def test_missing_file_and_truncated_jpeg(tmp_path):
    with pytest.raises(ImageError, match="does not exist"):
        read_image(tmp_path / "missing.png")
    path = save(tmp_path / "photo.jpg", (np.random.default_rng(0).random((64, 64, 3)) * 255).astype(np.uint8))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(ImageError, match="truncated"):
        read_image(path)


def test_huge_dimensions_refused_before_decoding(tmp_path):
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", 20000, 20000, 8, 0, 0, 0, 0)
    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00" * 100))
           + chunk(b"IEND", b""))
    path = tmp_path / "bomb.png"
    path.write_bytes(png)
    with pytest.raises(ImageError, match="20000x20000|enormous"):
        read_image(path)


@pytest.mark.parametrize("ink,paper", [(0, 255), (255, 0)])
def test_digit_preparation_both_polarities(ink, paper):
    canvas = render(demo_digit(7), ink=ink, paper=paper)
    frame, steps, empty = prepare_digit(np.dstack([canvas] * 3))
    assert not empty and frame.shape == (28, 28)
    ys, xs = np.nonzero(frame > 0.1)
    assert max(ys.max() - ys.min(), xs.max() - xs.min()) + 1 in (20, 21, 22)
    total = frame.sum()
    cy = (np.arange(28)[:, None] * frame).sum() / total
    cx = (np.arange(28)[None, :] * frame).sum() / total
    assert abs(cy - 13.5) < 1.0 and abs(cx - 13.5) < 1.0
    assert [name for name, _ in steps] == ["grey", "ink", "crop", "scaled", "centred 28x28"]


def test_empty_canvas_is_flagged():
    frame, _steps, empty = prepare_digit(np.full((280, 280, 3), 255, np.uint8))
    assert empty and frame.max() == 0


def test_colour_photo_into_digit_model_says_what_was_done():
    photo = np.random.default_rng(1).integers(0, 255, (300, 400, 3), dtype=np.uint8)
    prepared = prepare(photo, get_spec("lenet5"))
    assert prepared.tensor.shape == (1, 28, 28)
    assert any("grey" in n for n in prepared.notes)


def test_imagenet_preprocessing_crops_the_centre():
    photo = np.zeros((300, 600, 3), np.uint8)
    prepared = prepare(photo, get_spec("resnet18"))
    assert prepared.tensor.shape == (3, 224, 224)
    assert np.allclose(prepared.tensor[0].mean().item(), (0 - 0.485) / 0.229, atol=1e-4)


@settings(max_examples=40, deadline=None)
@given(dtype=st.sampled_from([np.uint8, np.uint16, np.float32, np.float64, np.int32, np.bool_]),
       channels=st.sampled_from([None, 1, 2, 3, 4]), h=st.integers(1, 40), w=st.integers(1, 40),
       model=st.sampled_from(["lenet5", "mnist-cnn-fashion", "cifar-convnet", "resnet18"]), seed=st.integers(0, 99))
def test_any_image_becomes_finite_float32_of_the_model_shape(dtype, channels, h, w, model, seed):
    rng = np.random.default_rng(seed)
    shape = (h, w) if channels is None else (h, w, channels)
    array = (rng.random(shape) * (255 if dtype != np.float64 else 1e6)).astype(dtype)
    spec = get_spec(model)
    prepared = prepare(array, spec)
    assert prepared.tensor.dtype.is_floating_point and tuple(prepared.tensor.shape) == spec.input_shape
    assert bool(prepared.tensor.isfinite().all())


def test_write_png_round_trip(tmp_path):
    rgb = np.random.default_rng(2).integers(0, 255, (5, 6, 3), dtype=np.uint8)
    write_png(tmp_path / "x.png", rgb)
    assert np.array_equal(read_image(tmp_path / "x.png").rgb, rgb)
