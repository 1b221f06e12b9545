"""Dataset exemplars: the samples, and the patches in them, that excite each channel of a stage most
(deep-visualization-toolbox's "top 9").

One pass over the dataset in batches keeps, for every channel at once, the top-k samples by the channel's
maximum over positions, with the position of that maximum; the position goes back through the stage's
receptive field (cnnviz.core.engine.receptive) to a box in the model input. Ties keep the lower index, so
the result is the same as sorting the whole dataset by (value, descending; index, ascending).

Samples whose size and channels are the model's input (MNIST for a digit model, CIFAR-10 for a 32x32 RGB
one) are normalised directly, as training and evaluation see them; others go through the model's own
preprocessing (cnnviz.core.engine.preprocess), as the app shows a picture. A scan is cached on disk under
a key made of the weights' hash, the dataset's hash and the stage, so any weight change misses the cache.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from cnnviz.core.data.datasets import ArrayDataset
from cnnviz.core.data.imageio import to_rgb_uint8
from cnnviz.core.engine.capture import capture
from cnnviz.core.engine.preprocess import prepare
from cnnviz.core.engine.receptive import Field, receptive_fields
from cnnviz.core.fileio import atomic_write
from cnnviz.core.models.zoo import ModelSpec, spec_of
from cnnviz.core.teach.study_common import (
    CancelCheck,
    Cancelled,
    Progress,
    StudyError,
    evaluating,
    image_grid,
    normalise,
    probe,
    stage_of,
    weights_digest,
)

FORMAT = 1  # of the cache files; a change makes every older file a miss
BATCH = 256


@dataclass(frozen=True)
class Exemplar:
    """One of a channel's best samples: its index in the dataset, the channel's maximum on it, its label,
    and the box [y0, x0, y1, x1) in the model input (rows y0..y1-1, columns x0..x1-1) that the maximum sees."""

    index: int
    value: float
    label: int
    box: tuple[int, int, int, int]

    def to_json(self) -> dict:
        return {"index": self.index, "value": self.value, "label": self.label, "box": list(self.box)}


@dataclass(frozen=True)
class ExemplarResult:
    """The top-k of every channel of a stage over a dataset (arrays: one row per channel)."""

    stage: str
    dataset: str
    n: int
    values: np.ndarray  # (C, k) float32, best first
    indices: np.ndarray  # (C, k) int64
    boxes: np.ndarray  # (C, k, 4) int64, [y0, x0, y1, x1)
    labels: np.ndarray  # (C, k) int64
    class_names: tuple[str, ...]
    from_cache: bool = False

    @property
    def channels(self) -> int:
        return int(self.values.shape[0])

    def top(self, channel: int) -> list[Exemplar]:
        self._check(channel)
        return [Exemplar(int(i), float(v), int(y), (int(b[0]), int(b[1]), int(b[2]), int(b[3])))
                for i, v, y, b in zip(self.indices[channel], self.values[channel], self.labels[channel],
                                      self.boxes[channel], strict=True)]

    def best(self, channel: int) -> float:
        self._check(channel)
        return float(self.values[channel, 0]) if self.values.shape[1] else 0.0

    def rank(self, channel: int, value: float) -> float | None:
        """``value`` (the current input's maximum on ``channel``) as a fraction of the best sample's;
        None when the channel never fires on the dataset."""
        best = self.best(channel)
        return float(value) / best if best > 0 else None

    def _check(self, channel: int) -> None:
        if not 0 <= channel < self.channels:
            raise StudyError(f"Stage '{self.stage}' has channels 0..{self.channels - 1}, not {channel}.")


def sample_inputs(data: ArrayDataset, spec: ModelSpec, indices: Sequence[int] | np.ndarray,
                  displays: bool = False) -> tuple[torch.Tensor, list[np.ndarray]]:
    """Samples as model inputs (N, C, H, W), and with ``displays`` the uint8 pictures the model sees."""
    images = data.images[np.asarray(indices, np.int64)]
    channels, height, width = spec.input_shape
    direct = images.shape[1:3] == (height, width) and (
        (images.ndim == 3 and channels == 1) or (images.ndim == 4 and images.shape[3] == channels == 3))
    if direct:
        pixels = torch.from_numpy(np.ascontiguousarray(images)).float().div_(255.0)
        pixels = pixels.unsqueeze(1) if images.ndim == 3 else pixels.permute(0, 3, 1, 2)
        return normalise(pixels, spec).contiguous(), list(images) if displays else []
    prepared = [prepare(to_rgb_uint8(image), spec) for image in images]
    if not prepared:
        return torch.zeros((0, *spec.input_shape)), []
    return torch.stack([p.tensor for p in prepared]), [p.model_view for p in prepared] if displays else []


def patches(result: ExemplarResult, data: ArrayDataset, spec: ModelSpec, channel: int) -> list[np.ndarray]:
    """The boxes of a channel's exemplars cut out of the pictures the model saw (uint8, grey or RGB)."""
    top = result.top(channel)
    _, shown = sample_inputs(data, spec, [e.index for e in top], displays=True)
    return [image[e.box[0]:e.box[2], e.box[1]:e.box[3]] for e, image in zip(top, shown, strict=True)]


def patch_grid(result: ExemplarResult, data: ArrayDataset, spec: ModelSpec, channel: int,
               tile: int = 56) -> np.ndarray:
    """A channel's exemplar patches, best first, in one RGB grid."""
    return image_grid(patches(result, data, spec, channel), tile=tile)


def channel_maxima(model: nn.Module, x: torch.Tensor, stage: str) -> np.ndarray:
    """Every channel's maximum over positions at ``stage`` for one input (C, H, W): to place it on the
    scale of :meth:`ExemplarResult.rank`."""
    with torch.no_grad():
        output = stage_of(capture(model, x), stage)[0]
    return (output.flatten(1).amax(dim=1) if output.dim() == 3 else output).float().cpu().numpy()


def default_cache_dir() -> Path:
    """$CNNVIZ_CACHE, else $XDG_CACHE_HOME/cnnviz/exemplars, else ~/.cache/cnnviz/exemplars."""
    if os.environ.get("CNNVIZ_CACHE"):
        return Path(os.environ["CNNVIZ_CACHE"]) / "exemplars"
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "cnnviz" / "exemplars"


def dataset_digest(data: ArrayDataset) -> str:
    digest = hashlib.blake2b(digest_size=16)
    digest.update(f"{data.name}:{data.images.shape}:{data.images.dtype}:{len(data.labels)};".encode())
    digest.update(np.ascontiguousarray(data.images).data)
    digest.update(np.ascontiguousarray(data.labels, np.int64).data)
    return digest.hexdigest()


def scan(model: nn.Module, data: ArrayDataset, stage: str, top: int = 9, cache_dir: str | Path | None = None,
         batch_size: int = BATCH, progress: Progress | None = None,
         cancelled: CancelCheck | None = None) -> ExemplarResult:
    """The ``top`` samples of every channel of ``stage`` over ``data`` (from the cache in ``cache_dir``
    when this model's weights, this dataset and stage were scanned before). Raises :class:`Cancelled`
    when ``cancelled()`` says so between two batches."""
    if top < 1:
        raise StudyError(f"top must be at least 1, not {top}.")
    spec = spec_of(model)
    blank = probe(model, spec)
    stage_of(blank, stage)  # a sentence for a stage that is not there, before any hashing or scanning
    cache = _cache_path(model, spec, data, stage, top, cache_dir) if cache_dir is not None else None
    if cache is not None:
        cached = _read(cache[0], cache[1])
        if cached is not None:
            return cached
    field = receptive_fields(blank.stages).get(stage)
    result = _scan(model, spec, data, stage, top, batch_size, progress, cancelled, field)
    if cache is not None:
        _write(cache[0], cache[1], result)
    return result


def _scan(model: nn.Module, spec: ModelSpec, data: ArrayDataset, stage: str, top: int, batch_size: int,
          progress: Progress | None, cancelled: CancelCheck | None, field: Field | None) -> ExemplarResult:
    device = next(iter(model.parameters()), torch.zeros(0)).device
    n = len(data)
    values = indices = positions = None
    width = 1
    with evaluating(model), torch.no_grad():
        for start in range(0, n, batch_size):
            if cancelled is not None and cancelled():
                raise Cancelled
            end = min(n, start + batch_size)
            x, _ = sample_inputs(data, spec, np.arange(start, end))
            output = stage_of(capture(model, x.to(device)), stage).float()
            if output.dim() == 4:
                width = output.shape[3]
                batch_values, batch_positions = output.flatten(2).max(dim=2)  # the first maximum on ties
            else:
                batch_values, batch_positions = output, torch.zeros_like(output, dtype=torch.long)
            batch_indices = torch.arange(start, end, device=output.device)[:, None].expand_as(batch_values)
            if values is None or indices is None or positions is None:
                values, indices, positions = batch_values, batch_indices, batch_positions
            else:  # the kept ones have lower indices: a stable sort keeps them first on ties
                values = torch.cat([values, batch_values])
                indices = torch.cat([indices, batch_indices])
                positions = torch.cat([positions, batch_positions])
            order = torch.sort(values, dim=0, descending=True, stable=True).indices[:top]
            values, indices, positions = values.gather(0, order), indices.gather(0, order), positions.gather(0, order)
            if progress is not None:
                progress(end, n)
    if values is None or indices is None or positions is None:
        raise StudyError("The dataset holds no samples to scan.")
    _, height, input_width = spec.input_shape
    kept = indices.t().cpu().numpy().astype(np.int64)
    where = positions.t().cpu().numpy()
    boxes = np.zeros((*kept.shape, 4), np.int64)
    for c in range(kept.shape[0]):
        for j in range(kept.shape[1]):
            if field is None:
                boxes[c, j] = (0, 0, height, input_width)
            else:
                y0, x0, y1, x1 = field.rect(int(where[c, j]) // width, int(where[c, j]) % width, height, input_width)
                boxes[c, j] = (y0, x0, y1 + 1, x1 + 1)
    return ExemplarResult(stage, data.name, n, values.t().cpu().numpy().astype(np.float32), kept, boxes,
                          np.asarray(data.labels, np.int64)[kept], tuple(data.class_names))


def _cache_path(model: nn.Module, spec: ModelSpec, data: ArrayDataset, stage: str, top: int,
                cache_dir: str | Path) -> tuple[Path, str]:
    """The file and the full key of a scan; the name starts with what it is (model, dataset, stage), so a
    scan under new weights replaces the file of the old ones."""
    weights, dataset = weights_digest(model), dataset_digest(data)
    key = json.dumps({"format": FORMAT, "weights": weights, "dataset": dataset, "stage": stage, "top": top,
                      "input": [spec.input_shape, spec.mean, spec.std, spec.preprocess]}, sort_keys=True)
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{spec.name}-{data.name}-{stage}")[:120]
    tag = hashlib.blake2b(key.encode(), digest_size=8).hexdigest()
    return Path(cache_dir) / f"exemplars-{stem}-{dataset[:8]}-{tag}.npz", key


def _read(path: Path, key: str) -> ExemplarResult | None:
    """A cached scan, or None (missing, unreadable, or made for another key)."""
    try:
        with np.load(path, allow_pickle=False) as saved:
            meta = json.loads(str(saved["meta"]))
            if meta.get("key") != key:
                return None
            return ExemplarResult(meta["stage"], meta["dataset"], int(meta["n"]), saved["values"],
                                  saved["indices"], saved["boxes"], saved["labels"], tuple(meta["class_names"]),
                                  from_cache=True)
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _write(path: Path, key: str, result: ExemplarResult) -> None:
    """Atomically; older scans of the same model, dataset and stage (other weights) are removed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    prefix = path.name.rsplit("-", 1)[0] + "-"
    for old in path.parent.glob(f"{glob_escape(prefix)}*.npz"):
        if old != path:
            old.unlink(missing_ok=True)
    meta = {"key": key, "stage": result.stage, "dataset": result.dataset, "n": result.n,
            "class_names": list(result.class_names)}
    atomic_write(path, lambda out: np.savez(out, meta=np.array(json.dumps(meta)), values=result.values,
                                            indices=result.indices, boxes=result.boxes, labels=result.labels))


def glob_escape(text: str) -> str:
    return re.sub(r"([*?\[])", r"[\1]", text)

