"""Image -> model tensor, for any zoo spec, with every intermediate step kept for display.

Digit models get MNIST-style preparation, because a digit drawn with a mouse or
photographed on paper is not an MNIST digit: the background is estimated and removed
(white paper, uneven light, either polarity), the ink is thresholded, cropped, scaled so
its longer side is 20 px, and placed by its centre of mass in a 28x28 frame, as MNIST's
own digits were.

Degenerate pictures never become a silent prediction: one smaller than 4 px on a side or more
than 100 times longer one way than the other is refused with a sentence
(:func:`cnnviz.core.data.imageio.check_picture_shape`, the rule files obey too), and one that is
allowed but poor (enlarged more than 4x, or far from square, so cropped, padded or squashed a lot)
is prepared with a note that says so.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field

import cv2
import numpy as np
import torch

from cnnviz.core.data.imageio import check_picture_shape, to_rgb_uint8
from cnnviz.core.models.zoo import ModelSpec

DIGIT_BOX = 20
DIGIT_FRAME = 28
#: Work on at most this many pixels on a side for digit preparation (speed; the result is 28x28);
#: larger inputs are shrunk by a whole factor (the 280 px canvas: to 140).
DIGIT_WORK_SIZE = 160
#: The background is estimated at this size (it is smooth; the strokes are what is removed).
BACKGROUND_SIZE = 64
#: Below this peak ink level (0..1) the canvas counts as empty.
EMPTY_INK = 0.1
#: Notes for a poor (but allowed) input: enlarged more than this many times to make the model input ...
ENLARGE_NOTE = 4.0
#: ... or this many times longer one way than the other (a crop, padding or squash then changes it a lot).
ASPECT_NOTE = 2.0


@dataclass
class Prepared:
    """A model input, the images of the steps that made it, and notes for the user."""

    tensor: torch.Tensor  # (C, H, W) float32, normalised with the spec's mean/std
    steps: list[tuple[str, np.ndarray]] = field(default_factory=list)  # uint8 images, grey or RGB
    notes: list[str] = field(default_factory=list)
    empty: bool = False

    @property
    def model_view(self) -> np.ndarray:
        """The last step: what the model receives, as an image."""
        return self.steps[-1][1]


def grey_float(rgb: np.ndarray) -> np.ndarray:
    """RGB uint8 -> grey float32 in [0, 1] (ITU-R 601 luma, as OpenCV computes it)."""
    if rgb.ndim == 2:
        return rgb.astype(np.float32) / 255.0
    return cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY).astype(np.float32) / 255.0


def prepare(image: np.ndarray, spec: ModelSpec) -> Prepared:
    """Turn any image array into the tensor ``spec``'s model expects.

    Raises :class:`~cnnviz.core.errors.ImageError` for a picture too small or too elongated to classify."""
    notes: list[str] = []
    if image.ndim >= 2:
        check_picture_shape(image.shape[0], image.shape[1], "The input image")
    if spec.preprocess == "digit" and image.ndim == 2 and image.dtype == np.uint8:
        frame, steps, empty = prepare_digit(image)  # the drawing canvas: grey already, skip RGB and back
        pixels = frame[None]
        notes += _enlarged_note(image.shape[:2], DIGIT_FRAME / max(image.shape[:2]), spec)
    elif spec.preprocess == "digit":
        rgb = to_rgb_uint8(image)
        frame, steps, empty = prepare_digit(rgb)
        notes += _channel_note(rgb, 1)
        notes += _enlarged_note(rgb.shape[:2], DIGIT_FRAME / max(rgb.shape[:2]), spec)
        pixels = frame[None]
    else:
        pixels, steps = _prepare_picture(to_rgb_uint8(image), spec, notes)
        empty = False
    mean = torch.tensor(spec.mean, dtype=torch.float32).view(-1, 1, 1)
    std = torch.tensor(spec.std, dtype=torch.float32).view(-1, 1, 1)
    tensor = (torch.from_numpy(np.ascontiguousarray(pixels, dtype=np.float32)) - mean) / std
    return Prepared(tensor.contiguous(), steps, notes, empty)


def _enlarged_note(shape: tuple[int, ...], factor: float, spec: ModelSpec) -> list[str]:
    if factor <= ENLARGE_NOTE:
        return []
    _channels, height, width = spec.input_shape
    return [f"the {shape[1]}x{shape[0]} image was enlarged about {factor:.0f}x for the model's {width}x{height} "
            f"input, so there is little detail for it to go on."]


def _channel_note(rgb: np.ndarray, channels: int) -> list[str]:
    is_colour = bool(np.any(rgb[:, :, 0] != rgb[:, :, 1]) or np.any(rgb[:, :, 1] != rgb[:, :, 2]))
    if channels == 1 and is_colour:
        return ["colour image converted to grey (the model takes 1 channel)."]
    if channels == 3 and not is_colour:
        return ["grey image repeated on 3 channels (the model takes colour)."]
    return []


def _prepare_picture(rgb: np.ndarray, spec: ModelSpec, notes: list[str]) -> tuple[np.ndarray, list]:
    channels, height, width = spec.input_shape
    notes += _channel_note(rgb, channels)
    steps: list[tuple[str, np.ndarray]] = [("input", rgb)]
    h, w = rgb.shape[:2]
    elongated = max(h, w) / min(h, w) > ASPECT_NOTE * max(height, width) / min(height, width)
    out: np.ndarray
    if spec.preprocess == "imagenet":
        scale = (height * 256 / 224) / min(h, w)
        resized = _resize(rgb, max(width, round(w * scale)), max(height, round(h * scale)))
        top = (resized.shape[0] - height) // 2
        left = (resized.shape[1] - width) // 2
        out = resized[top:top + height, left:left + width]
        steps.append((f"resized, centre {width}x{height}", out))
        notes += _enlarged_note((h, w), scale, spec)
        if elongated:
            seen = 100 * min(1.0, width / resized.shape[1]) * min(1.0, height / resized.shape[0])
            notes.append(f"the model sees only the centre {seen:.0f} % of the {w}x{h} image (its input is "
                         f"{width}x{height}); crop the part that matters.")
    elif spec.preprocess == "fashion":
        grey: np.ndarray = (grey_float(rgb) * 255).astype(np.uint8)
        if _light_background(grey.astype(np.float32) / 255.0):
            grey = 255 - grey
            notes.append("light background inverted (the model was trained on light objects on black).")
        scale = min(width / w, height / h)
        small = _resize(grey, max(1, round(w * scale)), max(1, round(h * scale)))
        out = np.zeros((height, width), np.uint8)
        top, left = (height - small.shape[0]) // 2, (width - small.shape[1]) // 2
        out[top:top + small.shape[0], left:left + small.shape[1]] = small
        steps.append((f"{width}x{height}", out))
        notes += _enlarged_note((h, w), scale, spec)
        if elongated:
            filled = 100 * small.shape[0] * small.shape[1] / (height * width)
            notes.append(f"the {w}x{h} image fills only {filled:.0f} % of the model's {width}x{height} input; "
                         f"the rest is black padding.")
    else:
        out = _resize(rgb, width, height)
        steps.append((f"resized to {width}x{height}", out))
        notes += _enlarged_note((h, w), max(width / w, height / h), spec)
        if elongated:
            notes.append(f"the {w}x{h} image was squashed to the model's {width}x{height} input, so the shapes "
                         f"in it are distorted.")
    if (h, w) != (height, width):
        notes.append(f"resized {w}x{h} -> {width}x{height}.")
    if channels == 1:
        grey = out if out.ndim == 2 else cv2.cvtColor(np.ascontiguousarray(out), cv2.COLOR_RGB2GRAY)
        return grey[None].astype(np.float32) / 255.0, steps
    rgb_out = out if out.ndim == 3 else np.repeat(out[:, :, None], 3, axis=2)
    return np.transpose(rgb_out, (2, 0, 1)).astype(np.float32) / 255.0, steps


def _resize(image: np.ndarray, width: int, height: int) -> np.ndarray:
    h, w = image.shape[:2]
    interpolation = cv2.INTER_AREA if width * height < w * h else cv2.INTER_LINEAR
    return cv2.resize(np.ascontiguousarray(image), (width, height), interpolation=interpolation)


def quantile(values: np.ndarray, q: float) -> float:
    """np.percentile's default (linear) quantile by one partition: the same number at a fraction of
    the cost on every frame (np.median and np.percentile carry much Python overhead)."""
    flat = values.ravel()
    k = q * (flat.size - 1)
    lo, hi = int(np.floor(k)), int(np.ceil(k))
    part = np.partition(flat, (lo, hi))
    return float(part[lo] + (part[hi] - part[lo]) * (k - lo))


def _light_background(grey: np.ndarray) -> bool:
    """The border decides the polarity: a light border means dark ink on light paper."""
    h, w = grey.shape
    b = max(1, min(h, w) // 20)
    border = np.concatenate([grey[:b].ravel(), grey[-b:].ravel(), grey[:, :b].ravel(), grey[:, -b:].ravel()])
    return quantile(border, 0.5) > 0.5


def prepare_digit(rgb: np.ndarray) -> tuple[np.ndarray, list[tuple[str, np.ndarray]], bool]:
    """MNIST-style preparation: returns the 28x28 frame in [0, 1], the step images, and 'empty'."""
    h, w = rgb.shape[:2]
    if max(h, w) > DIGIT_WORK_SIZE:
        # shrink by a whole factor where the size allows: OpenCV's area resize then takes its integer path,
        # 0.006 ms instead of 0.17 ms for the 280 px canvas (-> 140 px) on the development VM
        factor = math.ceil(max(h, w) / DIGIT_WORK_SIZE)
        rgb = cv2.resize(np.ascontiguousarray(rgb), (max(1, round(w / factor)), max(1, round(h / factor))),
                         interpolation=cv2.INTER_AREA)
    grey = grey_float(rgb)
    steps: list[tuple[str, np.ndarray]] = [("grey", _u8(grey))]
    ink = remove_background(grey)
    mask = ink_mask(ink)
    if mask is None:
        blank = np.zeros((DIGIT_FRAME, DIGIT_FRAME), np.float32)
        steps += [("ink", _u8(ink)), ("crop", _u8(blank)), ("scaled", _u8(blank)), ("centred 28x28", _u8(blank))]
        return blank, steps, True
    soft = cv2.dilate(mask.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    strokes = ink[mask]
    level = quantile(strokes, 0.75) if strokes.size else 1.0
    clean = np.where(soft, np.clip(ink / max(level, 1e-6), 0.0, 1.0), 0.0).astype(np.float32)
    steps.append(("ink", _u8(clean)))
    left, top, width, height = cv2.boundingRect(mask.view(np.uint8))  # (the ink's box; a tenth of np.nonzero)
    crop = clean[top:top + height, left:left + width]
    steps.append(("crop", _u8(crop)))
    ch, cw = crop.shape
    scale = DIGIT_BOX / max(ch, cw)
    nw, nh = max(1, round(cw * scale)), max(1, round(ch * scale))
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    scaled = np.clip(cv2.resize(crop, (nw, nh), interpolation=interpolation), 0.0, 1.0)
    steps.append(("scaled", _u8(scaled)))
    frame = centre_by_mass(scaled)
    steps.append(("centred 28x28", _u8(frame)))
    return frame, steps, False


def remove_background(grey: np.ndarray) -> np.ndarray:
    """Bright ink on zero: invert light paper, then subtract a smooth estimate of the background.

    A morphological opening wider than any stroke removes the strokes and keeps the
    (possibly unevenly lit) background, which is then subtracted. The background is smooth,
    so it is estimated on a copy shrunk to at most 64 px and enlarged again: the same result
    for a fraction of the cost (the 71 px opening on the full 280 px canvas took 30-46 ms here).
    """
    img = 1.0 - grey if _light_background(grey) else grey.copy()
    h, w = img.shape
    factor = min(1.0, BACKGROUND_SIZE / max(h, w))
    small = cv2.resize(img, (max(1, round(w * factor)), max(1, round(h * factor))), interpolation=cv2.INTER_AREA) \
        if factor < 1.0 else img
    k = max(3, (min(small.shape) // 4) | 1)
    kernel = _ellipse(k)
    if _opens_to_zero(small, k):
        return np.clip(img, 0.0, 1.0).astype(np.float32)  # (what subtracting a zero background gives)
    background = cv2.blur(cv2.morphologyEx(small, cv2.MORPH_OPEN, kernel), (k, k))
    if factor < 1.0:
        background = cv2.resize(background, (w, h), interpolation=cv2.INTER_LINEAR)
    return np.clip(img - background, 0.0, 1.0).astype(np.float32)


@functools.lru_cache(maxsize=16)
def _ellipse(k: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))


@functools.lru_cache(maxsize=16)
def _inner_square(k: int) -> int:
    """The side of the largest centred square inside the k x k ellipse (an odd number)."""
    ellipse, centre = _ellipse(k), k // 2
    side = 1
    while side + 2 <= k and ellipse[centre - (side + 2) // 2: centre + (side + 2) // 2 + 1,
                                    centre - (side + 2) // 2: centre + (side + 2) // 2 + 1].all():
        side += 2
    return side


def _opens_to_zero(small: np.ndarray, k: int) -> bool:
    """Whether the opening by the k x k ellipse is zero everywhere, so the background is nothing to
    subtract (a drawing on clean paper): a window of the ellipse holds a zero wherever the smaller square
    inside it does, and the square's erosion is separable, so this costs an eighth of the opening it spares
    (8 against 67 us on the 64 px copy of the canvas, on the development VM).
    Only exact zeros count (the values are never negative), so the result is the same as the opening's."""
    side = _inner_square(k)
    if side < 3 or small.min() > 0.0:
        return False
    eroded = cv2.erode(small, np.ones((side, side), np.uint8))
    return not eroded.any()


def ink_mask(ink: np.ndarray) -> np.ndarray | None:
    """Strokes by Otsu's threshold, with specks (noise, dust) removed; None when there is no ink."""
    peak = float(ink.max())
    if peak < EMPTY_INK:
        return None
    ink8 = (ink / peak * 255.0).astype(np.uint8)
    threshold, _ = cv2.threshold(ink8, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    mask = (ink8 > max(threshold, 40)).astype(np.uint8)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    if count <= 1:
        return None
    areas = stats[1:, cv2.CC_STAT_AREA]
    keep = np.zeros(count, bool)
    keep[1:] = areas >= max(0.08 * areas.max(), 2)
    if keep[1:].all():  # no specks (one stroke, the usual drawing): the mask as it is, without a gather
        return mask.view(bool)
    cleaned = keep[labels]
    return cleaned if cleaned.any() else None


_FRAME_YS, _FRAME_XS = np.mgrid[0:DIGIT_FRAME, 0:DIGIT_FRAME]


def centre_by_mass(digit: np.ndarray) -> np.ndarray:
    """Place ``digit`` in a 28x28 frame so that its centre of mass is the frame's centre."""
    h, w = digit.shape
    frame = np.zeros((DIGIT_FRAME, DIGIT_FRAME), np.float32)
    top, left = (DIGIT_FRAME - h) // 2, (DIGIT_FRAME - w) // 2
    frame[top:top + h, left:left + w] = digit
    total = float(frame.sum())
    if total <= 0:
        return frame
    cy, cx = float((_FRAME_YS * frame).sum() / total), float((_FRAME_XS * frame).sum() / total)
    dy, dx = (DIGIT_FRAME - 1) / 2 - cy, (DIGIT_FRAME - 1) / 2 - cx
    # keep the whole digit inside the frame
    dy = float(np.clip(dy, -top, DIGIT_FRAME - top - h))
    dx = float(np.clip(dx, -left, DIGIT_FRAME - left - w))
    matrix = np.array([[1, 0, dx], [0, 1, dy]], np.float32)
    return cv2.warpAffine(frame, matrix, (DIGIT_FRAME, DIGIT_FRAME), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0.0)


def _u8(image: np.ndarray) -> np.ndarray:
    return (np.clip(image, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
