"""Image files are read safely, and preprocessing gives every model the tensor it expects."""

from __future__ import annotations

import struct
import warnings
import zlib

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cnnviz.core.data.imageio import (
    DAMAGED_NOTE,
    MAX_ASPECT,
    METADATA_NOTE,
    MIN_SIDE,
    check_picture_shape,
    decode_image,
    read_image,
    write_png,
)
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
    if min(h, w) < MIN_SIDE:  # too small to mean anything: a sentence, never a silent prediction
        with pytest.raises(ImageError, match="too small to classify"):
            prepare(array, spec)
        return
    prepared = prepare(array, spec)
    assert prepared.tensor.dtype.is_floating_point and tuple(prepared.tensor.shape) == spec.input_shape
    assert bool(prepared.tensor.isfinite().all())


def test_write_png_round_trip(tmp_path):
    rgb = np.random.default_rng(2).integers(0, 255, (5, 6, 3), dtype=np.uint8)
    write_png(tmp_path / "x.png", rgb)
    assert np.array_equal(read_image(tmp_path / "x.png").rgb, rgb)


# ---- degenerate pictures: a sentence or a note, never a silent meaningless prediction -----------------
def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def grey_png(width: int, height: int, extra: bytes = b"", before_idat: bytes = b"") -> bytes:
    """A grey PNG of any size (1,000,000x1 is a few KB); ``extra`` goes on in the zlib stream after the rows."""
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    rows = (b"\x00" + (bytes(range(256)) * (width // 256 + 1))[:width]) * height  # a grey ramp
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + before_idat
            + _chunk(b"IDAT", zlib.compress(rows + extra, 9)) + _chunk(b"IEND", b""))


@pytest.fixture
def quiet_check(capfd):
    """Asserts, after the test, that no Python warning escaped and nothing reached file descriptor 2."""
    with warnings.catch_warnings(record=True) as escaped:
        warnings.simplefilter("always")
        yield
    assert [str(w.message) for w in escaped] == [] and capfd.readouterr().err == ""


@pytest.mark.parametrize("width,height,words", [
    (1, 1, "1x1 pixels, too small"), (2, 2, "2x2 pixels, too small"), (3, 3, "too small"), (3, 500, "too small"),
    (1_000_000, 1, "1000000x1 pixels, too small"), (600, 5, "120 times wider than tall"),
    (5, 1000, "200 times taller than wide"),
])
def test_degenerate_image_files_are_refused_with_a_sentence(tmp_path, quiet_check, width, height, words):
    path = tmp_path / f"{width}x{height}.png"
    path.write_bytes(grey_png(width, height))
    with pytest.raises(ImageError, match=words) as info:
        read_image(path)
    assert str(info.value).startswith(path.name) and "\n" not in str(info.value)


@pytest.mark.parametrize("shape", [(1, 1), (2, 2, 3), (3, 40, 4), (1, 1_000_000), (5, 600, 3)])
def test_degenerate_arrays_are_refused_by_prepare(quiet_check, shape):
    """A pasted picture or a dataset sample never passes through read_image: prepare holds the same rule."""
    array = np.full(shape, 200, np.uint8)
    for model in ("lenet5", "mnist-cnn-fashion", "cifar-convnet", "resnet18"):
        with pytest.raises(ImageError, match="^The input image is"):
            prepare(array, get_spec(model))


def test_the_rule_is_inclusive_at_its_limits():
    check_picture_shape(MIN_SIDE, MIN_SIDE)
    check_picture_shape(MIN_SIDE, MIN_SIDE * MAX_ASPECT)
    with pytest.raises(ImageError):
        check_picture_shape(MIN_SIDE, MIN_SIDE * MAX_ASPECT + 1)
    with pytest.raises(ImageError):
        check_picture_shape(MIN_SIDE - 1, 100)


@pytest.mark.parametrize("model,shape,words", [
    ("resnet18", (4, 4, 3), "enlarged about 64x"), ("cifar-convnet", (6, 6, 3), "enlarged about 5x"),
    ("lenet5", (4, 4, 3), "enlarged about 7x"), ("resnet18", (40, 400, 3), "only the centre"),
    ("mnist-cnn-fashion", (40, 400, 3), "black padding"), ("cifar-convnet", (40, 400, 3), "squashed"),
])
def test_poor_but_allowed_pictures_are_prepared_with_a_note(quiet_check, model, shape, words):
    array = (np.random.default_rng(0).random(shape) * 255).astype(np.uint8)
    prepared = prepare(array, get_spec(model))
    assert tuple(prepared.tensor.shape) == get_spec(model).input_shape and bool(prepared.tensor.isfinite().all())
    assert any(words in note for note in prepared.notes), prepared.notes


def test_ordinary_pictures_get_no_degenerate_note():
    photo = (np.random.default_rng(0).random((300, 400, 3)) * 255).astype(np.uint8)
    for model in ("lenet5", "mnist-cnn-fashion", "cifar-convnet", "resnet18"):
        notes = prepare(photo, get_spec(model)).notes
        assert not any(w in n for n in notes for w in ("enlarged", "centre", "padding", "squashed")), notes


def test_a_4x4_file_is_predicted_with_a_note(tmp_path, quiet_check):
    from cnnviz.core.engine.inference import predict_image
    from cnnviz.core.models.model_io import load_model

    path = tmp_path / "tiny.png"
    path.write_bytes(grey_png(4, 4))
    prediction = predict_image(load_model("lenet5", "cpu"), path, 3)
    assert len(prediction.top) == 3 and any("enlarged" in n for n in prediction.notes)


# ---- what the decoders say becomes a note, not text on stderr ------------------------------------------
def test_png_with_too_much_image_data_is_shown_with_a_note(quiet_check):
    image = decode_image(grey_png(16, 16, extra=b"\x00" * 3000), "idat.png")
    assert image.rgb.shape == (16, 16, 3) and DAMAGED_NOTE in image.notes


def test_jpeg_with_extraneous_bytes_is_shown_with_a_note(quiet_check):
    rgb = (np.random.default_rng(4).random((48, 64, 3)) * 255).astype(np.uint8)
    data = cv2.imencode(".jpg", rgb)[1].tobytes()
    image = decode_image(data[:-2] + bytes(range(1, 101)) + data[-2:], "extra.jpg")
    assert image.rgb.shape == (48, 64, 3) and DAMAGED_NOTE in image.notes


def test_a_broken_colour_profile_is_only_a_metadata_note(quiet_check):
    iccp = _chunk(b"iCCP", b"ICC\x00\x00" + zlib.compress(b"\x00" * 200))
    image = decode_image(grey_png(16, 16, before_idat=iccp), "profile.png")
    assert image.notes == [METADATA_NOTE]


def test_a_clean_file_has_no_damage_note(quiet_check):
    assert decode_image(grey_png(16, 16), "clean.png").notes == []


def _full_digit_path(monkeypatch) -> None:
    """prepare_digit without its shortcut: the background opening always computed."""
    from cnnviz.core.engine import preprocess

    monkeypatch.setattr(preprocess, "_opens_to_zero", lambda small, k: False)


@pytest.mark.parametrize("seed", range(12))
def test_the_digit_shortcuts_give_exactly_the_full_paths_result(monkeypatch, seed):
    """A drawing on clean paper skips the background opening (it is zero there); pictures with a blob wider
    than the opening or a photo's noise take the full path. Either way the model input and every step image
    are the same to the bit, specks or not."""
    rng = np.random.default_rng(seed)
    canvas = np.full((280, 280), 255, np.uint8)
    for _ in range(int(rng.integers(1, 4))):
        points = rng.integers(20, 260, (int(rng.integers(2, 6)), 2))
        for a, b in zip(points, points[1:], strict=False):
            cv2.line(canvas, (int(a[0]), int(a[1])), (int(b[0]), int(b[1])), 0, int(rng.integers(6, 40)), cv2.LINE_AA)
    if seed % 4 == 1:
        canvas[int(rng.integers(0, 280)), int(rng.integers(0, 280))] = 0  # a speck
    if seed % 4 == 2:
        canvas[90:210, 90:210] = 0  # a blob wider than the opening
    if seed % 4 == 3:
        canvas = np.clip(canvas.astype(int) - rng.integers(0, 60, canvas.shape), 0, 255).astype(np.uint8)  # noise
    fast = prepare_digit(canvas)
    with monkeypatch.context() as patch:
        _full_digit_path(patch)
        full = prepare_digit(canvas)
    assert np.array_equal(fast[0], full[0]) and fast[2] == full[2]
    assert [name for name, _ in fast[1]] == [name for name, _ in full[1]]
    assert all(np.array_equal(a, b) for (_, a), (_, b) in zip(fast[1], full[1], strict=True))


def test_a_drawing_on_clean_paper_takes_the_shortcut_and_a_photo_does_not():
    from cnnviz.core.engine.preprocess import _opens_to_zero

    canvas = np.zeros((64, 64), np.float32)
    cv2.line(canvas, (10, 10), (50, 40), 1.0, 4)
    assert _opens_to_zero(canvas, 17)
    assert not _opens_to_zero(canvas + 0.01, 17)  # grey paper: a background to subtract
    blob = canvas.copy()
    blob[20:45, 20:45] = 1.0  # wider than the ellipse's inner square
    assert not _opens_to_zero(blob, 17)
