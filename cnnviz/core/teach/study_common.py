"""What feature visualisation and dataset exemplars share: the version of a model's weights (the key their
caches use), the stage and channels a request names, dataset samples as model inputs, and image grids."""

from __future__ import annotations

import hashlib
import weakref
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import numpy as np
import torch
from torch import nn

from cnnviz.core.engine.capture import Capture, capture
from cnnviz.core.errors import CnnvizError
from cnnviz.core.models.zoo import ModelSpec

#: progress(done, total); cancelled() -> True stops the work between two steps or batches.
Progress = Callable[[int, int], None]
CancelCheck = Callable[[], bool]


class StudyError(CnnvizError):
    """A stage, channel or setting that the model at hand does not have."""


class Cancelled(Exception):  # noqa: N818 - reads as what happened
    """The caller's cancel check said stop (not an error: nothing is reported to the user)."""


def weights_version(model: nn.Module) -> tuple:
    """Changes whenever any parameter or buffer changes: torch bumps a tensor's version counter on every
    in-place write (a kernel edit, an optimiser step, ``load_state_dict``), and a replaced tensor has a new
    address. Cheap enough to compute on every request (no data is read)."""
    return tuple((t.data_ptr(), t._version) for t in [*model.parameters(), *model.buffers()])


_DIGESTS: weakref.WeakKeyDictionary[nn.Module, tuple[tuple, str]] = weakref.WeakKeyDictionary()


def weights_digest(model: nn.Module) -> str:
    """A hash of the weights' values (for caches on disk, which must survive a restart), computed once per
    weights version."""
    version = weights_version(model)
    known = _DIGESTS.get(model)
    if known is not None and known[0] == version:
        return known[1]
    digest = hashlib.blake2b(digest_size=16)
    for name, tensor in sorted(model.state_dict().items()):
        if not isinstance(tensor, torch.Tensor):
            continue
        value = tensor.detach().cpu().contiguous()
        digest.update(f"{name}:{value.dtype}:{tuple(value.shape)};".encode())
        digest.update(value.view(torch.uint8).numpy().tobytes() if value.numel() else b"")
    _DIGESTS[model] = (version, digest.hexdigest())
    return _DIGESTS[model][1]


def stage_of(result: Capture, stage: str) -> torch.Tensor:
    """The stage's output, (N, C, H, W) or (N, C); a sentence naming the stages there are otherwise."""
    try:
        output = result.by_name(stage).output
    except KeyError:
        names = ", ".join(result.names[:40])
        raise StudyError(f"The model has no stage '{stage}'; choose one of: {names}.") from None
    if output.dim() not in (2, 4):
        raise StudyError(f"Stage '{stage}' has outputs of shape {tuple(output.shape[1:])}, not channels "
                         f"(C,H,W) or units (C,); choose a conv, ReLU, pool or linear stage.")
    return output


def check_channels(channels: Sequence[int] | None, count: int, stage: str) -> tuple[int, ...]:
    """The channels asked for (all of them for None), each checked against the stage's ``count``."""
    if channels is None:
        return tuple(range(count))
    chosen = tuple(dict.fromkeys(int(c) for c in channels))
    bad = [c for c in chosen if not 0 <= c < count]
    if bad or not chosen:
        raise StudyError(f"Stage '{stage}' has channels 0..{count - 1}; {bad[0] if bad else 'none'} was asked for.")
    return chosen


def probe(model: nn.Module, spec: ModelSpec) -> Capture:
    """One forward pass of a blank input: the stages and their shapes."""
    with torch.no_grad():
        return capture(model, torch.zeros((1, *spec.input_shape)))


def normalise(pixels: torch.Tensor, spec: ModelSpec) -> torch.Tensor:
    """[0, 1] pixels (N, C, H, W) -> the model's input, exactly as cnnviz.core.engine.preprocess.prepare does."""
    mean = torch.tensor(spec.mean, dtype=torch.float32, device=pixels.device).view(1, -1, 1, 1)
    std = torch.tensor(spec.std, dtype=torch.float32, device=pixels.device).view(1, -1, 1, 1)
    return (pixels - mean) / std


def to_display(pixels: np.ndarray) -> np.ndarray:
    """(C, H, W) floats in [0, 1] -> uint8 (H, W) for one channel, (H, W, 3) for three (else the mean)."""
    pixels = np.clip(np.asarray(pixels, np.float32), 0.0, 1.0)
    if pixels.shape[0] == 3:
        image = pixels.transpose(1, 2, 0)
    else:
        image = pixels.mean(axis=0) if pixels.shape[0] != 1 else pixels[0]
    return np.ascontiguousarray(np.round(image * 255.0).astype(np.uint8))


def image_grid(images: Sequence[np.ndarray], columns: int | None = None, tile: int | None = None,
               gap: int = 2) -> np.ndarray:
    """uint8 images (grey or RGB, any sizes) in rows on a dark background, each scaled to ``tile`` pixels
    on its longer side (nearest neighbour, so pixels stay pixels): an RGB (H, W, 3) grid."""
    import cv2

    if not images:
        return np.full((1, 1, 3), 48, np.uint8)
    size = tile or max(max(i.shape[:2]) for i in images)
    columns = columns or int(np.ceil(np.sqrt(len(images))))
    rows = int(np.ceil(len(images) / columns))
    grid = np.full((rows * (size + gap) + gap, columns * (size + gap) + gap, 3), 48, np.uint8)
    for n, image in enumerate(images):
        rgb = np.repeat(image[:, :, None], 3, axis=2) if image.ndim == 2 else image[:, :, :3]
        h, w = rgb.shape[:2]
        scale = size / max(h, w)
        rgb = cv2.resize(rgb, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_NEAREST)
        top = gap + (n // columns) * (size + gap) + (size - rgb.shape[0]) // 2
        left = gap + (n % columns) * (size + gap) + (size - rgb.shape[1]) // 2
        grid[top:top + rgb.shape[0], left:left + rgb.shape[1]] = rgb
    return grid


@contextmanager
def evaluating(model: nn.Module) -> Iterator[None]:
    """Eval mode (no dropout noise, BatchNorm's running statistics), then back as it was."""
    modes = {m: m.training for m in model.modules()}
    model.eval()
    try:
        yield
    finally:
        for module, mode in modes.items():
            module.train(mode)
