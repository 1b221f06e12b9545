"""The embedding map: every sample of a dataset as a point in 2-D, from its activation at one stage.

Public API (no Qt; every function may run on a worker thread):

- ``default_embedding_stage(model) -> str``: the stage that feeds the classifier (LeNet-5: ``relu4``).
- ``compute_features(model, data, stage=None, *, max_samples=None, batch_size=256, progress=None,
  cancelled=None, cache_dir=None) -> FeatureSet``: each sample's flattened activation and predicted class,
  computed in batches and cached per model weights + dataset + stage (in memory, and in ``cache_dir`` if given).
- ``project(features, method="pca", *, random_state=0, neighbours=5, progress=None, cancelled=None)
  -> EmbeddingMap``: PCA (scikit-learn, exact placement), t-SNE (scikit-learn) or UMAP (``umap-learn``, the
  optional extra ``cnnviz[umap]``); t-SNE and UMAP maps are cached too.
- ``embedding_map(model, data, stage=None, method="pca", **options) -> EmbeddingMap``: both of the above.
- ``input_features(model, tensor, stage) -> np.ndarray``: one model input's flattened activation.
- ``place(emb, feature) -> Placement`` / ``place_input(model, emb, tensor) -> Placement``: where a new input
  goes: PCA's fitted transform (``how == "exact"``), else the inverse-distance weighted mean of the 2-D points
  of its ``neighbours`` nearest samples in feature space (``how == "neighbours"``).
- ``weights_key(model) -> str``: a digest of the weights and preprocessing; ``emb.key`` starts with it, so a view
  can tell that a map was made for other weights (a kernel edited in the lab) and make it again.
- ``one_nn_accuracy(points, labels) -> float``: leave-one-out 1-nearest-neighbour accuracy in 2-D (how well
  the map separates the classes).

``progress(fraction, message)`` is called with 0..1; ``cancelled()`` returning True stops the work with
:class:`EmbeddingCancelledError`. Drawing (the class palette, the PNG) is in ``embedding_drawing``.
"""

from __future__ import annotations

import hashlib
import io
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from cnnviz.core.data.datasets import ArrayDataset
from cnnviz.core.data.imageio import to_rgb_uint8
from cnnviz.core.engine.capture import Capture, capture
from cnnviz.core.engine.preprocess import prepare
from cnnviz.core.errors import CnnvizError
from cnnviz.core.fileio import atomic_write
from cnnviz.core.models.zoo import spec_of
from cnnviz.core.teach.embedding_methods import EmbeddingError, pca_map, tsne_map, umap_map

METHODS = ("pca", "tsne", "umap")
METHOD_NAMES = {"pca": "PCA", "tsne": "t-SNE", "umap": "UMAP"}
#: A feature matrix larger than this is refused (pick a later stage or fewer samples).
MAX_FEATURE_BYTES = 2 * 1024**3
_PASS_THROUGH = ("dropout", "identity")  # eval-mode no-ops: the stage before them is the same activation

Progress = Callable[[float, str], None]
Cancelled = Callable[[], bool]


class EmbeddingCancelledError(CnnvizError):
    """The user cancelled the map while it was being computed."""


@dataclass(frozen=True, eq=False)
class FeatureSet:
    """Flattened activations (N, D) of one stage, with each sample's label, predicted class (-1 when the
    model has no class output) and position in the dataset split's own order."""

    features: np.ndarray
    labels: np.ndarray
    predicted: np.ndarray
    indices: np.ndarray
    stage: str
    class_names: tuple[str, ...]
    key: str  # model weights + preprocessing + dataset + stage
    same_classes: bool = True  # the dataset's classes are the model's (else no sample is "misclassified")

    @property
    def misclassified(self) -> np.ndarray:
        return (self.predicted >= 0) & (self.predicted != self.labels) & self.same_classes


@dataclass(frozen=True, eq=False)
class EmbeddingMap:
    """Points (N, 2) float32 and what each one is; ``pca_mean``/``pca_components`` place an input exactly
    (PCA), ``features`` + ``neighbours`` place it by its nearest samples (t-SNE, UMAP)."""

    points: np.ndarray
    labels: np.ndarray
    predicted: np.ndarray
    indices: np.ndarray
    stage: str
    method: str
    class_names: tuple[str, ...]
    placement: str  # "exact" or "neighbours": how place() puts a new input on this map
    features: np.ndarray
    neighbours: int = 5
    pca_mean: np.ndarray | None = None
    pca_components: np.ndarray | None = None
    explained_variance: tuple[float, ...] = ()  # PCA only: the share of the variance each axis shows
    same_classes: bool = True  # the dataset's classes are the model's (else no sample is "misclassified")
    key: str = ""  # the features' key: weights + preprocessing + dataset + stage (a changed model: another key)
    _index: object = field(default=None, repr=False)  # a fitted sklearn NearestNeighbors (neighbour placement)

    @property
    def misclassified(self) -> np.ndarray:
        return (self.predicted >= 0) & (self.predicted != self.labels) & self.same_classes

    def to_json(self) -> dict:
        """The command line's JSON: ``{"stage", "method", "points": [[x, y, label, index], ...]}``."""
        return {"stage": self.stage, "method": self.method,
                "points": [[round(float(x), 5), round(float(y), 5), int(label), int(index)]
                           for (x, y), label, index in zip(self.points, self.labels, self.indices, strict=True)]}


@dataclass(frozen=True)
class Placement:
    """A new input on the map: its point, how it was placed, and the samples (map rows) it was placed by."""

    point: tuple[float, float]
    how: str  # "exact" (PCA's transform) or "neighbours"
    neighbours: tuple[int, ...] = ()
    predicted: int = -1


def default_embedding_stage(model: nn.Module) -> str:
    """The stage that feeds the classifier: the penultimate features (skipping eval-mode no-ops)."""
    stages = _probe(model).stages
    return _default_from(stages)


def _default_from(stages: list) -> str:
    body = [s for s in stages if s.kind != "softmax"]
    if not body:
        raise EmbeddingError("This model has no stages to embed.")
    by_name = {s.name: s for s in body}
    head = next((s for s in reversed(body) if s.kind == "linear"), body[-1])
    current = by_name.get(head.inputs[0]) if head.inputs else None
    while current is not None and current.kind in _PASS_THROUGH and current.inputs and current.inputs[0] in by_name:
        current = by_name[current.inputs[0]]
    return current.name if current is not None else body[-1].name


def _probe(model: nn.Module) -> Capture:
    spec = spec_of(model)
    return capture(model, torch.zeros(spec.input_shape))


def _check(cancelled: Cancelled | None) -> None:
    if cancelled is not None and cancelled():
        raise EmbeddingCancelledError("The embedding map was cancelled.")


def _report(progress: Progress | None, fraction: float, message: str) -> None:
    if progress is not None:
        progress(min(1.0, max(0.0, fraction)), message)


def weights_key(model: nn.Module) -> str:
    """A digest of the model's weights and preprocessing: an edited kernel makes another map."""
    spec = spec_of(model)
    digest = hashlib.blake2b(digest_size=16)
    digest.update(repr((spec.name, spec.input_shape, spec.mean, spec.std, spec.preprocess)).encode())
    for name, tensor in model.state_dict().items():
        t = tensor.detach().to("cpu").contiguous().reshape(-1)
        digest.update(f"{name}{tuple(tensor.shape)}{tensor.dtype}".encode())
        digest.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return digest.hexdigest()


def dataset_key(data: ArrayDataset) -> str:
    digest = hashlib.blake2b(digest_size=16)
    digest.update(f"{data.name}{data.images.shape}{data.class_names}".encode())
    digest.update(np.ascontiguousarray(data.images).tobytes())
    digest.update(np.ascontiguousarray(data.labels).tobytes())
    return digest.hexdigest()


def sample_indices(n: int, max_samples: int | None) -> np.ndarray:
    """All positions, or ``max_samples`` of them evenly spread over the split (the same ones every time)."""
    if max_samples is None or max_samples >= n:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, max(1, max_samples)).round().astype(np.int64))


_FEATURES: OrderedDict[str, FeatureSet] = OrderedDict()
_MAPS: OrderedDict[tuple, EmbeddingMap] = OrderedDict()
_KEEP = 6


def _remember(cache: OrderedDict, key: object, value: object) -> None:
    cache[key] = value
    cache.move_to_end(key)
    while len(cache) > _KEEP:
        cache.popitem(last=False)


def clear_cache() -> None:
    _FEATURES.clear()
    _MAPS.clear()


def compute_features(model: nn.Module, data: ArrayDataset, stage: str | None = None, *,
                     max_samples: int | None = None, batch_size: int = 256, progress: Progress | None = None,
                     cancelled: Cancelled | None = None, cache_dir: str | Path | None = None) -> FeatureSet:
    """Every sample through the model's own preprocessing (the pixels it gets when clicked in the app), and
    the flattened output of ``stage`` (default: :func:`default_embedding_stage`)."""
    probe = _probe(model)
    names = probe.names
    stage = stage or _default_from(probe.stages)
    if stage not in names:
        shown = ", ".join(n for n in names if n != "softmax")
        raise EmbeddingError(f"'{stage}' is not a stage of {spec_of(model).name}; one of {shown}.")
    width = int(np.prod(probe.by_name(stage).shape))
    indices = sample_indices(len(data), max_samples)
    if len(indices) < 3:
        raise EmbeddingError(f"{data.name or 'The dataset'} has {len(indices)} samples; a map needs at least 3.")
    if len(indices) * width * 4 > MAX_FEATURE_BYTES:
        raise EmbeddingError(f"{len(indices)} samples of stage {stage} ({width} values each) need more than "
                             f"{MAX_FEATURE_BYTES // 1024**3} GB; pick a later stage or fewer samples.")
    key = f"{weights_key(model)}-{dataset_key(data)}-{len(indices)}-{stage}"
    same = tuple(data.class_names) == tuple(spec_of(model).class_names)
    cached = _FEATURES.get(key) or _load_features(cache_dir, key, data, stage, same)
    if cached is not None:
        _remember(_FEATURES, key, cached)
        _report(progress, 1.0, "features from the cache")
        return cached
    spec = spec_of(model)
    features = np.empty((len(indices), width), np.float32)
    predicted = np.full(len(indices), -1, np.int64)
    model.eval()
    for start in range(0, len(indices), batch_size):
        _check(cancelled)
        chunk = indices[start:start + batch_size]
        x = torch.stack([prepare(to_rgb_uint8(data.images[i]), spec).tensor for i in chunk])
        with torch.no_grad():
            result = capture(model, x)
        features[start:start + len(chunk)] = result.by_name(stage).output.reshape(len(chunk), -1).float().cpu()
        if result.probabilities is not None:
            predicted[start:start + len(chunk)] = result.probabilities.argmax(1).cpu().numpy()
        _report(progress, (start + len(chunk)) / len(indices), f"{start + len(chunk)} of {len(indices)} samples")
    out = FeatureSet(features, data.labels[indices].astype(np.int64), predicted, indices, stage,
                     data.class_names, key, same)
    _remember(_FEATURES, key, out)
    _save_features(cache_dir, out)
    return out


def _cache_file(cache_dir: str | Path, key: str) -> Path:
    return Path(cache_dir) / f"features-{hashlib.blake2b(key.encode(), digest_size=12).hexdigest()}.npz"


def _load_features(cache_dir: str | Path | None, key: str, data: ArrayDataset, stage: str,
                   same_classes: bool) -> FeatureSet | None:
    if cache_dir is None:
        return None
    path = _cache_file(cache_dir, key)
    try:
        with np.load(path, allow_pickle=False) as saved:
            if str(saved["key"]) != key:
                return None
            return FeatureSet(saved["features"], saved["labels"], saved["predicted"], saved["indices"], stage,
                              data.class_names, key, same_classes)
    except (OSError, KeyError, ValueError):
        return None  # not there, or damaged: computed again


def _save_features(cache_dir: str | Path | None, feats: FeatureSet) -> None:
    if cache_dir is None:
        return
    folder = Path(cache_dir)
    folder.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    np.savez(buffer, features=feats.features, labels=feats.labels, predicted=feats.predicted, indices=feats.indices,
             key=np.array(feats.key))
    atomic_write(_cache_file(folder, feats.key), lambda out: out.write(buffer.getvalue()))


def project(features: FeatureSet, method: str = "pca", *, random_state: int = 0, neighbours: int = 5,
            progress: Progress | None = None, cancelled: Cancelled | None = None) -> EmbeddingMap:
    """The 2-D map of ``features`` by ``method`` (one of :data:`METHODS`)."""
    if method not in METHODS:
        raise EmbeddingError(f"Unknown projection '{method}'; one of {', '.join(METHODS)}.")
    cache_key = (features.key, method, random_state, neighbours)
    if cache_key in _MAPS:
        _report(progress, 1.0, f"{METHOD_NAMES[method]} map from the cache")
        return _MAPS[cache_key]
    _check(cancelled)
    x = features.features.astype(np.float64)
    _report(progress, 0.0, f"{METHOD_NAMES[method]} of {len(x)} samples")
    pca_mean = pca_components = None
    explained: tuple[float, ...] = ()
    if method == "pca":
        points, pca_mean, pca_components, explained = pca_map(x)
    elif method == "tsne":
        points = tsne_map(x, random_state)
    else:
        points = umap_map(x, random_state)
    _check(cancelled)
    k = max(1, min(neighbours, len(x) - 1))
    index = None
    if method != "pca":
        from sklearn.neighbors import NearestNeighbors

        index = NearestNeighbors(n_neighbors=k).fit(features.features)
    out = EmbeddingMap(np.asarray(points, np.float32), features.labels, features.predicted, features.indices,
                       features.stage, method, features.class_names, "exact" if method == "pca" else "neighbours",
                       features.features, k, pca_mean, pca_components, explained, features.same_classes,
                       features.key, index)
    _remember(_MAPS, cache_key, out)
    _report(progress, 1.0, f"{METHOD_NAMES[method]} map ready")
    return out


def embedding_map(model: nn.Module, data: ArrayDataset, stage: str | None = None, method: str = "pca", *,
                  max_samples: int | None = None, random_state: int = 0, neighbours: int = 5,
                  progress: Progress | None = None, cancelled: Cancelled | None = None,
                  cache_dir: str | Path | None = None) -> EmbeddingMap:
    """Features then projection; the features take the first 80 % of the progress for t-SNE / UMAP."""
    if method not in METHODS:
        raise EmbeddingError(f"Unknown projection '{method}'; one of {', '.join(METHODS)}.")
    share = 1.0 if method == "pca" else 0.8

    def features_progress(fraction: float, message: str) -> None:
        _report(progress, fraction * share, message)

    def map_progress(fraction: float, message: str) -> None:
        _report(progress, share + fraction * (1 - share), message)

    feats = compute_features(model, data, stage, max_samples=max_samples, progress=features_progress,
                             cancelled=cancelled, cache_dir=cache_dir)
    return project(feats, method, random_state=random_state, neighbours=neighbours, progress=map_progress,
                   cancelled=cancelled)


def input_features(model: nn.Module, tensor: torch.Tensor, stage: str) -> tuple[np.ndarray, int]:
    """One model input's (C, H, W, normalised) flattened activation at ``stage`` and its predicted class."""
    with torch.no_grad():
        result = capture(model, tensor)
    try:
        values = result.by_name(stage).output
    except KeyError:
        raise EmbeddingError(f"'{stage}' is not a stage of {spec_of(model).name}.") from None
    predicted = int(result.probabilities.argmax()) if result.probabilities is not None else -1
    return values.reshape(-1).float().cpu().numpy(), predicted


def place(emb: EmbeddingMap, feature: np.ndarray, predicted: int = -1) -> Placement:
    """Where an input with this flattened activation goes on ``emb``."""
    f = np.asarray(feature, np.float64).reshape(-1)
    if f.shape[0] != emb.features.shape[1]:
        raise EmbeddingError(f"An input with {f.shape[0]} values at stage {emb.stage} does not fit this map "
                             f"({emb.features.shape[1]} values); make the map again for this model.")
    if emb.placement == "exact" and emb.pca_mean is not None and emb.pca_components is not None:
        x, y = (f - emb.pca_mean) @ emb.pca_components.T
        return Placement((float(x), float(y)), "exact", (), predicted)
    distances, rows = emb._index.kneighbors(f[None].astype(np.float32))  # type: ignore[attr-defined]
    distances, rows = distances[0], rows[0]
    if distances[0] <= 1e-9 * max(1.0, float(np.abs(f).max())):  # the input is a sample of the map
        x, y = emb.points[rows[0]]
        return Placement((float(x), float(y)), "neighbours", (int(rows[0]),), predicted)
    weights = 1.0 / distances
    x, y = (emb.points[rows].astype(np.float64) * weights[:, None]).sum(0) / weights.sum()
    return Placement((float(x), float(y)), "neighbours", tuple(int(r) for r in rows), predicted)


def place_input(model: nn.Module, emb: EmbeddingMap, tensor: torch.Tensor) -> Placement:
    """The current input (a normalised model tensor, as the frames use) on the map."""
    feature, predicted = input_features(model, tensor, emb.stage)
    return place(emb, feature, predicted)


def one_nn_accuracy(points: np.ndarray, labels: np.ndarray) -> float:
    """Leave-one-out: the share of points whose nearest other point has the same label."""
    from sklearn.neighbors import NearestNeighbors

    if len(points) < 2:
        return 0.0
    _, rows = NearestNeighbors(n_neighbors=2).fit(points).kneighbors(points)
    own = np.arange(len(points))
    nearest = np.where(rows[:, 0] == own, rows[:, 1], rows[:, 0])  # the nearest point that is not itself
    return float(np.mean(labels[nearest] == labels))
