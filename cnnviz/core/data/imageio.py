"""Reading images from disk as data: size-checked before decoding, truncation detected.

Every image leaves here as RGB ``uint8`` (H, W, 3), whatever it was on disk (grey,
BGR, alpha, palette, 16-bit, float), with a list of one-line notes on what was done to
it. One orientation rule: EXIF orientation is applied, as photo viewers do.

Only a regular file is opened (a named pipe or a device would hang the read). What the decoders
say about a damaged file (libpng and libjpeg write it on stderr) becomes a note on the image,
not text on the terminal. A picture must be at least :data:`MIN_SIDE` pixels on each side and at
most :data:`MAX_ASPECT` times longer one way than the other (:func:`check_picture_shape`): anything
else is refused with a sentence, never turned into a meaningless model input.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from cnnviz.core.errors import ImageError
from cnnviz.core.fileio import Noise, quiet, read_bounded, regular_file

#: Largest image decoded: 40 megapixels (a 20000x20000 PNG is refused before decoding).
MAX_PIXELS = 40_000_000
MAX_FILE_BYTES = 256 * 1024**2
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".pgm", ".ppm", ".pbm")
#: Smallest picture taken: with fewer pixels on a side there is nothing a network can recognise, and
#: enlarging it to a model input only makes a blur whose prediction means nothing.
MIN_SIDE = 4
#: Most elongated picture taken (longer side / shorter side): beyond this an image is a line, not a
#: picture, and every way of making it a model input (a centre crop, a squash, padding) loses it.
MAX_ASPECT = 100
#: The notes for what a decoder complained about while it still produced pixels.
DAMAGED_NOTE = "the file was damaged; the part that could be read is shown."
METADATA_NOTE = "the file's metadata (EXIF, colour profile) is damaged and was ignored."
#: Complaints only about the colour profile or EXIF (libpng's "iCCP: known incorrect sRGB profile", Pillow's
#: "Corrupt EXIF data"): the pixels are whole. Anything else a decoder says means damaged pixel data.
_METADATA_WORDS = ("iccp", "srgb", "chrm", "gama", "profile", "exif")


@dataclass
class ImageData:
    """An RGB uint8 image and what was done to make it so."""

    rgb: np.ndarray
    notes: list[str] = field(default_factory=list)
    source: str = ""


def read_image(path: str | Path) -> ImageData:
    """Load an image file safely; raises :class:`ImageError` with a one-line reason."""
    path = Path(path)
    size = regular_file(path, "image file", ImageError).st_size  # before any open: a pipe would hang it
    if size > MAX_FILE_BYTES:
        raise ImageError(f"{path.name} is {size / 1024**2:.0f} MB, larger than cnnviz opens "
                         f"({MAX_FILE_BYTES // 1024**2} MB).")
    try:
        with path.open("rb") as handle:
            data = read_bounded(handle, size, MAX_FILE_BYTES)  # the file may have grown since the stat
    except OSError as exc:
        raise ImageError(f"{path.name} cannot be read ({exc.strerror or exc}).") from None
    if len(data) > MAX_FILE_BYTES:
        raise ImageError(f"{path.name} is larger than cnnviz opens ({MAX_FILE_BYTES // 1024**2} MB).")
    image = decode_image(data, path.name)
    image.source = str(path)
    return image


def decode_image(data: bytes, name: str = "image") -> ImageData:
    """Decode image bytes (a file's contents, or a paste) into RGB uint8."""
    if not data:
        raise ImageError(f"{name} is empty (0 bytes); it is not an image.")
    notes: list[str] = []
    with quiet(c_stderr=True) as noise:  # libpng/libjpeg complain on fd 2: kept for a note instead
        width, height, frames, orientation, fmt = _probe_header(data, name)
        if width * height > MAX_PIXELS:
            raise ImageError(f"{name} is {width}x{height} pixels ({width * height / 1e6:.0f} megapixels); "
                             f"cnnviz opens images up to {MAX_PIXELS / 1e6:.0f} megapixels. Shrink it first.")
        check_picture_shape(height, width, name)
        if _is_truncated(data, fmt):
            raise ImageError(f"{name} is truncated (the {fmt} data ends early); the file is damaged.")
        array = None
        if fmt != "GIF":
            array = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
        if array is None:
            array = _decode_with_pillow(data, name)
    notes += _noise_notes(noise)
    check_picture_shape(array.shape[0], array.shape[1], name)  # the pixels, whatever the header said
    if array.ndim == 3 and array.shape[2] in (3, 4):
        array = cv2.cvtColor(array, cv2.COLOR_BGR2RGB if array.shape[2] == 3 else cv2.COLOR_BGRA2RGBA)
    if frames > 1:
        notes.append(f"{name} is animated ({frames} frames); showing its first frame.")
    rgb = to_rgb_uint8(array, notes)
    if orientation and orientation != 1:
        rgb = _apply_orientation(rgb, orientation)
        notes.append("rotated as its EXIF orientation says.")
    return ImageData(np.ascontiguousarray(rgb), notes)


def check_picture_shape(height: int, width: int, name: str = "The image") -> None:
    """Refuse, with a sentence, a picture too small or too elongated to mean anything to a model."""
    if min(height, width) < MIN_SIDE:
        raise ImageError(f"{name} is {width}x{height} pixels, too small to classify; cnnviz needs at least "
                         f"{MIN_SIDE} pixels on each side, so give a larger image.")
    long, short = max(height, width), min(height, width)
    if long > MAX_ASPECT * short:
        way = "wider than tall" if width > height else "taller than wide"
        raise ImageError(f"{name} is {width}x{height} pixels ({long // short} times {way}), a line rather than "
                         f"a picture; cnnviz takes images at most {MAX_ASPECT} times longer one way than the "
                         f"other, so crop it first.")


def _noise_notes(noise: Noise) -> list[str]:
    """A decoder that wrote on stderr but still gave pixels: damaged data, or only damaged metadata."""
    from PIL import Image

    complaints = [line for line in noise.stderr.splitlines() if line.strip()]
    complaints += [str(w.message) for w in noise.warnings  # a bomb warning is followed by our own refusal
                   if not issubclass(w.category, Image.DecompressionBombWarning)]
    if not complaints:
        return []
    if all(any(word in line.lower() for word in _METADATA_WORDS) for line in complaints):
        return [METADATA_NOTE]
    return [DAMAGED_NOTE]


def _probe_header(data: bytes, name: str) -> tuple[int, int, int, int, str]:
    """Size, frame count, EXIF orientation and format from the header alone (no pixel decoding)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as img:
            width, height = img.size
            frames = int(getattr(img, "n_frames", 1) or 1)
            orientation = 0
            if img.format in ("JPEG", "TIFF", "PNG", "WEBP"):
                try:
                    orientation = int(img.getexif().get(0x0112, 0) or 0)
                except Exception:  # noqa: BLE001 - broken EXIF: ignore orientation, not the image
                    orientation = 0
            return width, height, frames, orientation, str(img.format or "")
    except Image.DecompressionBombError:
        raise ImageError(f"{name} claims an enormous size (over {MAX_PIXELS // 1_000_000} megapixels, a possible "
                         "decompression bomb); refused before decoding.") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        raise ImageError(f"{name} is not an image cnnviz can read (unknown or damaged format).") from None
    except Exception:  # noqa: BLE001 - Pillow's parsers raise anything on a damaged header
        raise ImageError(f"{name} has a damaged header; the file cannot be read.") from None


def _is_truncated(data: bytes, fmt: str) -> bool:
    """OpenCV and Qt only warn on stderr about a cut-off file, so look for the end marker ourselves."""
    tail = data[-64:].rstrip(b"\x00\r\n ")
    if fmt == "JPEG":
        return not tail.endswith(b"\xff\xd9")
    if fmt == "PNG":
        return b"IEND" not in data[-64:]
    if fmt == "GIF":
        return not tail.endswith(b";")
    return False


def _decode_with_pillow(data: bytes, name: str) -> np.ndarray:
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as opened:
            opened.seek(0)
            img: Image.Image = opened
            if img.mode in ("P", "PA", "LA", "RGBA") or "transparency" in img.info:
                img = img.convert("RGBA")
            elif img.mode not in ("L", "RGB", "I;16", "I", "F"):
                img = img.convert("RGB")
            return np.array(img)
    except Exception:  # noqa: BLE001 - any decoder failure is a damaged file to the user
        raise ImageError(f"{name} could not be decoded; the file is damaged or in an unsupported variant.") from None


def to_rgb_uint8(array: np.ndarray, notes: list[str] | None = None) -> np.ndarray:
    """Any image array (grey/RGB/RGBA; uint8/uint16/int/float/bool) -> RGB uint8, finite."""
    notes = notes if notes is not None else []
    a = np.asarray(array)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] not in (2, 3, 4)) or a.size == 0:
        raise ImageError(f"An image of shape {a.shape} is not a picture cnnviz can show.")
    a = _to_uint8(a, notes)
    if a.ndim == 2:
        return np.repeat(a[:, :, None], 3, axis=2)
    if a.shape[2] == 2:  # grey + alpha
        a = np.dstack([a[:, :, 0]] * 3 + [a[:, :, 1]])
    if a.shape[2] == 4:
        alpha = a[:, :, 3:4].astype(np.float32) / 255.0
        if alpha.min() < 1.0:
            notes.append("transparent pixels were placed on white.")
        a = (a[:, :, :3].astype(np.float32) * alpha + 255.0 * (1.0 - alpha) + 0.5).astype(np.uint8)
    return a


def _to_uint8(a: np.ndarray, notes: list[str]) -> np.ndarray:
    if a.dtype == np.uint8:
        return a
    if a.dtype == np.bool_:
        return a.astype(np.uint8) * 255
    if a.dtype == np.uint16:
        notes.append("16-bit image reduced to 8 bits.")
        return (a.astype(np.uint32) * 255 // 65535).astype(np.uint8)
    f = a.astype(np.float64)
    if not np.isfinite(f).all():
        notes.append("NaN/infinite pixels were set to black.")
        f = np.nan_to_num(f, nan=0.0, posinf=0.0, neginf=0.0)
    if np.issubdtype(a.dtype, np.floating) and f.min() >= 0.0 and f.max() <= 1.0:
        return (f * 255.0 + 0.5).astype(np.uint8)
    low, high = float(f.min()), float(f.max())
    notes.append(f"{a.dtype} pixel values {low:g}..{high:g} were stretched to 0..255.")
    if high <= low:
        return np.zeros(a.shape, np.uint8)
    return ((f - low) / (high - low) * 255.0 + 0.5).astype(np.uint8)


def _apply_orientation(rgb: np.ndarray, orientation: int) -> np.ndarray:
    ops = {
        2: lambda a: a[:, ::-1], 3: lambda a: a[::-1, ::-1], 4: lambda a: a[::-1],
        5: lambda a: np.transpose(a, (1, 0, 2)), 6: lambda a: np.rot90(a, -1),
        7: lambda a: np.rot90(a, 1)[::-1], 8: lambda a: np.rot90(a, 1),
    }
    op = ops.get(orientation)
    return np.ascontiguousarray(op(rgb)) if op else rgb


#: PNG settings for colour-mapped mosaics: zlib level 1 and no row filters. Mosaics are runs of a few
#: hundred flat colours that filters do not help; measured on every ResNet-18 stage this writes files
#: less than half the size of OpenCV's default in the same time.
MOSAIC_PNG = (cv2.IMWRITE_PNG_COMPRESSION, 1, cv2.IMWRITE_PNG_FILTER, cv2.IMWRITE_PNG_FILTER_NONE)


def write_png(path: str | Path, rgb: np.ndarray, params: tuple[int, ...] = ()) -> None:
    """Save an RGB (or grey) uint8 array as PNG; works for non-ASCII paths."""
    array = np.asarray(rgb)
    if array.ndim == 3:
        array = cv2.cvtColor(array, cv2.COLOR_RGB2BGR)
    ok, encoded = cv2.imencode(".png", array, list(params))
    if not ok:
        raise ImageError(f"Could not encode {Path(path).name} as PNG.")
    try:
        encoded.tofile(str(path))
    except OSError as exc:
        raise ImageError(f"Cannot write {path} ({exc.strerror or exc}); choose another folder or free some space.") \
            from None


def write_pngs(items: Iterable[tuple[Path, np.ndarray]], params: tuple[int, ...] = ()) -> list[Path]:
    """Save many PNGs on a few threads (OpenCV encodes without the GIL): a whole network's stages are
    ~90 files and encoding them one by one took longer than the forward pass that made them."""
    items = list(items)
    workers = min(4, os.cpu_count() or 1, max(1, len(items)))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(lambda item: write_png(item[0], item[1], params), items))
    return [path for path, _ in items]
