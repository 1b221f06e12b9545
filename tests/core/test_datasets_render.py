"""Datasets are read with explicit checks; renders are the right colours and shapes."""

from __future__ import annotations

import gzip

import numpy as np
import pytest
import torch

from cnnviz.core.data.datasets import load_dataset, load_folder, load_idx_dataset, load_samples, read_idx
from cnnviz.core.data.imageio import write_png
from cnnviz.core.engine.capture import Stage
from cnnviz.core.engine.render import colormap, filter_grid, mosaic_rgb, probability_bars, stage_mosaics
from cnnviz.core.errors import DatasetError


def idx_bytes(array: np.ndarray, type_code: int = 0x08) -> bytes:
    header = bytes([0, 0, type_code, array.ndim]) + b"".join(d.to_bytes(4, "big") for d in array.shape)
    return header + array.astype(np.uint8).tobytes()


def write_mnist(root, n=12, gz=False):
    rng = np.random.default_rng(0)
    files = {"train-images-idx3-ubyte": rng.integers(0, 255, (n, 28, 28)), "train-labels-idx1-ubyte": np.arange(n) % 10,
             "t10k-images-idx3-ubyte": rng.integers(0, 255, (n, 28, 28)), "t10k-labels-idx1-ubyte": np.arange(n) % 10}
    root.mkdir(parents=True, exist_ok=True)
    for name, array in files.items():
        data = idx_bytes(np.asarray(array))
        if gz:
            with gzip.open(root / (name + ".gz"), "wb") as handle:
                handle.write(data)
        else:
            (root / name).write_bytes(data)


@pytest.mark.parametrize("layout,gz", [("torchvision", False), ("flat", True), ("flat", False)])
def test_both_layouts(tmp_path, layout, gz):
    root = tmp_path / "data"
    write_mnist(root / "MNIST" / "raw" if layout == "torchvision" else root, gz=gz)
    data = load_idx_dataset(root, "mnist", train=True)
    assert data.images.shape == (12, 28, 28) and data.labels.tolist()[:3] == [0, 1, 2]


@pytest.mark.parametrize("data,reason", [
    (b"\x01\x02\x08\x01" + (3).to_bytes(4, "big") + b"abc", "magic"),
    (b"\x00\x00\x07\x01" + (3).to_bytes(4, "big") + b"abc", "type code"),
    (b"\x00\x00\x08\x01" + (5).to_bytes(4, "big") + b"abc", "truncated"),
    (b"\x00\x00\x08\x01" + (2).to_bytes(4, "big") + b"abc", "truncated"),
])
def test_bad_idx_files(tmp_path, data, reason):
    path = tmp_path / "bad-idx"
    path.write_bytes(data)
    with pytest.raises(DatasetError, match=reason):
        read_idx(path)


def test_folder_dataset(tmp_path):
    for cls in ("cats", "dogs"):
        (tmp_path / cls).mkdir()
        for i in range(3):
            write_png(tmp_path / cls / f"{i}.png", np.full((10, 10, 3), i * 50, np.uint8))
    data = load_folder(tmp_path, size=(8, 8))
    assert data.class_names == ("cats", "dogs") and data.images.shape == (6, 8, 8, 3)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="holds no images"):
        load_folder(tmp_path)


def test_shipped_samples_work_offline():
    mnist = load_samples("mnist")
    assert len(mnist) >= 200 and mnist.images.shape[1:] == (28, 28)
    assert sorted(set(mnist.labels.tolist())) == list(range(10))
    fashion = load_dataset("samples-fashion", None, train=False)
    assert fashion.class_names[-1] == "Ankle boot"


def test_missing_root_is_a_sentence(tmp_path):
    with pytest.raises(DatasetError, match="No train-images"):
        load_idx_dataset(tmp_path, "mnist", train=True)


def test_diverging_map_is_white_at_zero_and_sign_visible():
    lut = colormap("diverging")
    maps = torch.tensor([[[-1.0, 0.0, 1.0]]])
    rgb = mosaic_rgb(maps, lut, signed=True)
    assert rgb.shape == (1, 3, 3)
    assert rgb[0, 1].min() > 240  # zero is (almost) white
    assert rgb[0, 0, 2] > rgb[0, 0, 0] and rgb[0, 2, 0] > rgb[0, 2, 2]  # negative blue, positive red


def test_mosaic_tiles_every_channel():
    stage = Stage("conv", "conv", torch.randn(1, 6, 5, 7), None)
    relu = Stage("relu", "relu", torch.rand(1, 6, 5, 7), None)
    fc = Stage("fc", "linear", torch.randn(1, 10), None)
    out = stage_mosaics([stage, relu, fc])
    h, w, _ = out["conv"].shape
    assert (h + 1) % 6 == 0 and (w + 1) % 8 == 0 and (h + 1) // 6 * ((w + 1) // 8) >= 6
    assert out["relu"].dtype == np.uint8 and out["fc"].shape == (3, 4, 3)


def test_filter_grid_rgb_and_grey():
    rgb = filter_grid(torch.randn(8, 3, 3, 3), scale=2)
    grey = filter_grid(torch.randn(8, 4, 5, 5), in_channel=1, scale=1)
    assert rgb.ndim == 3 and rgb.shape[2] == 3 and grey.shape[2] == 3


def test_probability_bars():
    image = probability_bars([0.1, 0.7, 0.2], ["a", "b", "c"])
    assert image.dtype == np.uint8 and image.shape[0] > 3 * 20


def test_download_offline_is_a_sentence(tmp_path, monkeypatch):
    import torchvision

    def offline(*_args, **_kwargs):
        raise OSError("Name or service not known")

    monkeypatch.setattr(torchvision.datasets.utils, "download_url", offline)
    monkeypatch.setattr(torchvision.datasets.mnist, "download_and_extract_archive", offline)
    with pytest.raises(DatasetError, match="could not be downloaded"):
        load_idx_dataset(tmp_path / "new", "mnist", train=True, download=True)


def test_large_layers_are_averaged_down_and_hover_still_maps_back():
    """A VGG-sized layer (64 maps of 224x224) is drawn at half size; the layout maps mosaic pixels back
    to the right map pixels."""
    import numpy as np
    import torch

    from cnnviz.core.engine.capture import Stage
    from cnnviz.core.engine.render import mosaic_layout, mosaic_shrink, stage_mosaics

    maps = torch.zeros(1, 64, 224, 224)
    maps[0, 5, 100:110, 40:50] = 1.0
    stage = Stage("conv1", "relu", maps, None)
    shrink = mosaic_shrink(64, 224, 224, 1_000_000)
    assert shrink == 2
    mosaic = stage_mosaics([stage], max_pixels=1_000_000)["conv1"]
    layout = mosaic_layout(64, 224, 224, shrink=shrink)
    assert mosaic.shape[:2] == (layout.rows * 113 - 1, layout.cols * 113 - 1)
    x0, y0 = layout.tile_origin(5)
    assert layout.locate(x0 + 22, y0 + 52) == (5, 104, 44)
    tile = mosaic[y0:y0 + 112, x0:x0 + 112]
    bright = np.argwhere(tile.sum(2) != tile[0, 0].sum())
    assert bright.min(0).tolist() == [50, 20] and bright.max(0).tolist() == [54, 24]
    assert layout.to_tile(104, 44) == (52.0, 22.0, 0.5)


def test_a_folder_of_photos_can_be_prepared_as_the_model_sees_them(tmp_path):
    """With a model's preparation (cnnviz exemplars does this), wide photos are resized and centre-cropped as
    the app crops them, not squashed: of a red | green | blue photo an ImageNet model sees mostly green."""
    from cnnviz.core.engine.preprocess import prepare
    from cnnviz.core.models.zoo import get_spec

    spec = get_spec("resnet18")
    wide = np.zeros((60, 180, 3), np.uint8)
    wide[:, :60, 0] = wide[:, 60:120, 1] = wide[:, 120:, 2] = 255
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        write_png(tmp_path / name / "wide.png", wide)
        write_png(tmp_path / name / "tall.png", wide.transpose(1, 0, 2).copy())  # (another size: no common one)
    data = load_dataset("folder", tmp_path, train=False, prepare=lambda rgb: prepare(rgb, spec).model_view)
    assert data.images.shape == (4, 224, 224, 3) and list(data.labels) == [0, 0, 1, 1]
    seen = data.images[list(data.labels).index(0) + 1]  # (files sorted: tall.png, then wide.png)
    assert (seen[..., 1] == 255).mean() > 0.95  # the green middle third, filling the crop
    squashed = load_folder(tmp_path, size=(224, 224)).images[1]
    assert (squashed[..., 1] == 255).mean() < 0.4  # what a plain resize did: all three thirds
    (tmp_path / "a" / "tiny.png").unlink(missing_ok=True)
    write_png(tmp_path / "a" / "tiny.png", np.zeros((2, 2, 3), np.uint8))
    with pytest.raises(DatasetError, match="In class a, tiny.png"):
        load_dataset("folder", tmp_path, train=False, prepare=lambda rgb: prepare(rgb, spec).model_view)
