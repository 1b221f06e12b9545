"""Datasets as plain arrays: MNIST-style IDX files, CIFAR-10, class folders, and the shipped samples.

IDX files are read by our own reader, which checks the magic number, the type code and
that the size matches the header (with explicit checks, not assertions, which vanish under
``python -O``). A data root may be torchvision's layout (``ROOT/MNIST/raw/...``) or a
folder that holds the four files directly, gzipped or not, as Debian's packages install them.
"""

from __future__ import annotations

import gzip
import os
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cnnviz.core.assets import samples_dir
from cnnviz.core.data.classes import CIFAR_CLASSES, DIGITS, FASHION_CLASSES
from cnnviz.core.errors import CnnvizError, DatasetError
from cnnviz.core.fileio import existing_folder, read_bounded, regular_file

DATASETS = ("mnist", "fashion-mnist", "cifar10", "folder", "samples-mnist", "samples-fashion")
_IDX_TYPES: dict[int, str] = {0x08: "u1", 0x09: "i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_TORCHVISION_FOLDERS = {"mnist": "MNIST", "fashion-mnist": "FashionMNIST"}
MAX_IDX_BYTES = 1024**3


@dataclass
class ArrayDataset:
    """Images (N, H, W) or (N, H, W, 3) uint8 with integer labels and class names."""

    images: np.ndarray
    labels: np.ndarray
    class_names: tuple[str, ...]
    name: str = ""

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, indices: np.ndarray | slice) -> ArrayDataset:
        return ArrayDataset(self.images[indices], self.labels[indices], self.class_names, self.name)


def read_idx(path: str | Path) -> np.ndarray:
    """One IDX file (optionally .gz) as an array, after checking its header against its size."""
    path = Path(path)
    too_large = f"{path.name} is larger than any IDX dataset cnnviz reads."
    size = regular_file(path, "IDX file", DatasetError).st_size  # a stat before any open
    if size > MAX_IDX_BYTES:
        raise DatasetError(too_large)
    try:
        with path.open("rb") as handle:
            raw = read_bounded(handle, size, MAX_IDX_BYTES)
        if raw[:2] == b"\x1f\x8b":
            raw = _gunzip(path)
    except (OSError, EOFError, zlib.error) as exc:
        raise DatasetError(f"{path.name} cannot be read ({exc}).") from None
    if len(raw) > MAX_IDX_BYTES:
        raise DatasetError(too_large)
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise DatasetError(f"{path.name} is not an IDX file (wrong magic number).")
    type_code, ndim = raw[2], raw[3]
    if type_code not in _IDX_TYPES:
        raise DatasetError(f"{path.name} has an unknown IDX type code 0x{type_code:02x}.")
    if ndim < 1 or ndim > 4 or len(raw) < 4 + 4 * ndim:
        raise DatasetError(f"{path.name} has a damaged IDX header ({ndim} dimensions).")
    dims = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    dtype = np.dtype(_IDX_TYPES[type_code])
    expected = int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    body = len(raw) - 4 - 4 * ndim
    if body != expected:
        raise DatasetError(f"{path.name} holds {body} bytes of data but its header ({'x'.join(map(str, dims))}) "
                           f"needs {expected}; the file is truncated or damaged.")
    return np.frombuffer(raw, dtype=dtype, offset=4 + 4 * ndim).reshape(dims).astype(dtype.newbyteorder("="))


def _gunzip(path: Path) -> bytes:
    """Decompress in chunks, stopping past the size limit (a gzip bomb never fills memory)."""
    chunks, total = [], 0
    with gzip.open(path, "rb") as handle:
        while chunk := handle.read(1 << 22):
            total += len(chunk)
            if total > MAX_IDX_BYTES:
                raise DatasetError(f"{path.name} unpacks to more than any IDX dataset cnnviz reads.")
            chunks.append(chunk)
    return b"".join(chunks)


def _find_idx(root: Path, dataset: str, stem: str) -> Path:
    folders = [root, root / _TORCHVISION_FOLDERS.get(dataset, "") / "raw", root / "raw"]
    for folder in folders:
        for name in (stem, stem + ".gz"):
            candidate = folder / name
            if os.path.lexists(candidate):
                regular_file(candidate, "IDX file", DatasetError)  # a pipe or a folder in its place: said so
                return candidate
    raise DatasetError(f"No {stem}[.gz] under {root} (looked in {', '.join(str(f) for f in folders)}).")


def download_idx(root: Path, dataset: str) -> None:
    """Fetch MNIST or Fashion-MNIST into ``root`` in torchvision's layout (needs a network)."""
    from cnnviz.core.torchvision_import import import_torchvision

    torchvision = import_torchvision()

    cls = torchvision.datasets.MNIST if dataset == "mnist" else torchvision.datasets.FashionMNIST
    try:
        for train in (True, False):
            cls(str(root), train=train, download=True)
    except (OSError, RuntimeError) as exc:  # URLError is an OSError; torchvision raises RuntimeError at the end
        raise DatasetError(f"{dataset} is not under {root} and could not be downloaded ({_first_line(exc)}); "
                           f"this machine may be offline.") from None


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]


def load_idx_dataset(root: str | Path, dataset: str, train: bool, download: bool = False) -> ArrayDataset:
    """MNIST or Fashion-MNIST from a data root in either layout; ``download`` fetches it when missing."""
    root = Path(root)
    if download and not os.path.lexists(root):
        try:
            root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DatasetError(f"Data root {root} cannot be created ({exc.strerror or exc}).") from None
    existing_folder(root, "data root", DatasetError)
    prefix = "train" if train else "t10k"
    if download:
        try:
            _find_idx(root, dataset, f"{prefix}-images-idx3-ubyte")
        except DatasetError:
            download_idx(root, dataset)
    images = read_idx(_find_idx(root, dataset, f"{prefix}-images-idx3-ubyte"))
    labels = read_idx(_find_idx(root, dataset, f"{prefix}-labels-idx1-ubyte"))
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise DatasetError(f"{dataset} under {root}: {len(images)} images but {len(labels)} labels.")
    classes = DIGITS if dataset == "mnist" else FASHION_CLASSES
    if labels.size and (labels.min() < 0 or labels.max() >= len(classes)):
        raise DatasetError(f"{dataset} under {root} has labels outside 0..{len(classes) - 1}.")
    return ArrayDataset(images.astype(np.uint8), labels.astype(np.int64), classes, dataset)


def load_cifar10(root: str | Path, train: bool, download: bool = False) -> ArrayDataset:
    """CIFAR-10 through torchvision (its files are checked against their published MD5 first)."""
    from cnnviz.core.torchvision_import import import_torchvision

    torchvision = import_torchvision()
    cifar = torchvision.datasets.CIFAR10
    root = Path(root)
    if not download or os.path.lexists(root):
        existing_folder(root, "data root", DatasetError)
        batches = root / cifar.base_folder
        names = [name for name, _md5 in cifar.train_list + cifar.test_list] + [cifar.meta["filename"]]
        for candidate in [root / cifar.filename] + [batches / name for name in names]:
            if os.path.lexists(candidate):  # torchvision would open (or extract onto) a pipe in its place
                regular_file(candidate, "CIFAR-10 file", DatasetError)
    try:
        data = cifar(str(root), train=train, download=download)
    except RuntimeError as exc:
        raise DatasetError(f"CIFAR-10 is not under {root} ({exc}); download it with a machine that is online.") \
            from None
    return ArrayDataset(np.asarray(data.data, np.uint8), np.asarray(data.targets, np.int64), CIFAR_CLASSES, "cifar10")


def load_folder(root: str | Path, size: tuple[int, int] | None = None, grey: bool = False,
                prepare: Callable[[np.ndarray], np.ndarray] | None = None) -> ArrayDataset:
    """One sub-folder per class, every image read safely and resized to ``size`` (W, H); or, with
    ``prepare``, turned into what a model sees (its own resize and crop: a model's ``prepare`` keeps the
    aspect ratio where a plain resize would squash a photo to the model's square)."""
    import cv2

    from cnnviz.core.data.imageio import IMAGE_SUFFIXES, read_image

    root = existing_folder(root, "data folder", DatasetError)
    try:
        classes = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    except OSError as exc:
        raise DatasetError(f"Data folder {root} cannot be read ({exc.strerror or exc}).") from None
    if not classes:
        raise DatasetError(f"{root} has no class sub-folders (expected ROOT/CLASS/image.png).")
    images, labels = [], []
    for label, name in enumerate(classes):
        try:
            files = sorted(p for p in (root / name).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        except OSError as exc:
            raise DatasetError(f"Class folder {root / name} cannot be read ({exc.strerror}).") from None
        if not files:
            raise DatasetError(f"Class folder {root / name} holds no images.")
        for file in files:
            try:
                rgb = read_image(file).rgb
                if prepare is not None:
                    images.append(prepare(rgb))
                    labels.append(label)
                    continue
            except CnnvizError as exc:
                raise DatasetError(f"In class {name}, {file.name}: {exc}") from None
            if size is not None:
                rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
            images.append(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY) if grey else rgb)
            labels.append(label)
    shapes = {img.shape for img in images}
    if len(shapes) > 1:
        raise DatasetError(f"Images under {root} have different sizes ({len(shapes)} kinds); give a size.")
    return ArrayDataset(np.stack(images), np.asarray(labels, np.int64), tuple(classes), "folder")


def load_samples(kind: str = "mnist") -> ArrayDataset:
    """The small sample set shipped in assets (works offline)."""
    path = samples_dir() / f"{kind}.npz"
    if not path.is_file():
        raise DatasetError(f"The shipped samples {path} are missing from this installation.")
    with np.load(path, allow_pickle=False) as data:
        classes = tuple(str(c) for c in data["class_names"])
        return ArrayDataset(data["images"], data["labels"].astype(np.int64), classes, f"samples-{kind}")


def sample_photos() -> list[Path]:
    folder = samples_dir() / "photos"
    return sorted(folder.glob("*.jpg")) + sorted(folder.glob("*.png")) if folder.is_dir() else []


def load_dataset(name: str, root: str | Path | None, train: bool, download: bool = False,
                 size: tuple[int, int] | None = None, grey: bool = False,
                 prepare: Callable[[np.ndarray], np.ndarray] | None = None) -> ArrayDataset:
    """Any dataset by name; ``root`` is required except for the shipped samples. ``size``, ``grey`` and
    ``prepare`` are for a folder of pictures (see load_folder)."""
    if name == "samples-mnist":
        return load_samples("mnist")
    if name == "samples-fashion":
        return load_samples("fashion")
    if root is None:
        raise DatasetError(f"--data-root is needed for {name}.")
    if name in ("mnist", "fashion-mnist"):
        return load_idx_dataset(root, name, train, download)
    if name == "cifar10":
        return load_cifar10(root, train, download)
    if name == "folder":
        split = Path(root) / ("train" if train else "test")
        return load_folder(split if split.is_dir() else root, size, grey, prepare)
    raise DatasetError(f"Unknown dataset '{name}'; one of {', '.join(DATASETS)}.")


def default_root() -> str | None:
    return os.environ.get("CNNVIZ_DATA")
