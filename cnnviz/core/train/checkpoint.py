"""Training checkpoints: after every whole epoch, everything needed to go on, so a killed run loses at most
the epoch it was in.

A checkpoint is one file (``cnnviz train`` puts it beside ``--out``: ``tiny.safetensors`` -> ``tiny.ckpt``),
written atomically (a temporary file in the same folder, fsync, then a rename over the old one), so it
always holds the last whole epoch. It is a ``torch.save`` of tensors and plain values only, read back with
``torch.load(weights_only=True)``: nothing in it is unpickled as code. Its keys:

``format``, ``version``
    ``"cnnviz-train-checkpoint"`` and 1.
``meta``
    A JSON string: the :class:`~cnnviz.core.train.training.TrainConfig`, the epochs done, the history so far,
    the data it was trained on (class names, train/test sizes, mean and std), the command that started the
    run, where its finished model goes (``out``) and the device type it ran on.
``model``, ``optimizer``, ``scheduler``
    The state dicts of the model, of Adam and of the one-cycle learning-rate schedule.
``rng``
    The random state: torch's CPU generator (dropout), the run's own generator (the order of the batches,
    the augmentation) and, on CUDA, the device's generator. Resumed on the same kind of device, a run
    goes on exactly as it would have without the interruption.

Beside it, ``tiny.ckpt.json`` is the model card of the epochs so far (the card ``cnnviz train`` writes beside
its model, plus ``checkpoint_epoch``), for people; resuming reads only the checkpoint.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import json
import math
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from cnnviz.core.data.datasets import ArrayDataset
from cnnviz.core.errors import CheckpointError
from cnnviz.core.fileio import atomic_write, atomic_write_text, quiet, regular_file
from cnnviz.core.train.evaluation import Evaluation
from cnnviz.core.train.training import EpochStats, TrainConfig, model_card

FORMAT = "cnnviz-train-checkpoint"
VERSION = 1
SUFFIX = ".ckpt"
AUGMENTS = ("auto", "digits", "fashion", "none")


def checkpoint_beside(out: Path) -> Path:
    """Where ``cnnviz train --out OUT`` keeps its checkpoint: OUT with the suffix .ckpt."""
    return out.with_suffix(SUFFIX)


def card_of(checkpoint: Path) -> Path:
    """The model card written beside a checkpoint: ``tiny.ckpt`` -> ``tiny.ckpt.json``."""
    return checkpoint.with_name(checkpoint.name + ".json")


@dataclass(frozen=True)
class CheckpointPlan:
    """Where a run writes its checkpoints, and what they say about it."""

    path: Path
    command: str = ""  # recorded in the card, and in the card of the model a resumed run finishes
    out: str | None = None  # where the finished model is to go (``cnnviz train --resume`` writes it there)


@dataclass
class Checkpoint:
    """A checkpoint as read back: the run's settings and counters, and its tensors (still to be restored)."""

    path: Path
    config: TrainConfig
    epoch: int  # whole epochs done
    history: list[EpochStats]
    class_names: tuple[str, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    sizes: tuple[int, int]  # train, test
    command: str
    out: str | None
    device_type: str
    state: dict[str, Any]  # "model", "optimizer", "scheduler", "rng"

    @property
    def finished(self) -> bool:
        return self.epoch >= self.config.epochs

    def describe(self) -> str:
        """'lenet5 on samples-mnist, 3 of 5 epochs done'."""
        c = self.config
        return f"{c.arch} on {c.dataset}, {self.epoch} of {c.epochs} epoch{'s' if c.epochs != 1 else ''} done"


# ---- writing -------------------------------------------------------------------------------------------------
def _fsync_folder(folder: Path) -> None:
    """Make the rename itself durable (POSIX; elsewhere a folder cannot be opened, and that is fine)."""
    with contextlib.suppress(OSError, AttributeError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _atomic_save(obj: dict, path: Path) -> None:
    """``torch.save`` into a temporary file in the same folder, fsync, then rename it over ``path``."""
    atomic_write(path, lambda out: torch.save(obj, out))
    _fsync_folder(path.parent)


def _remove_stale_temporaries(path: Path) -> None:
    """Temporary files a killed writer of this checkpoint left (never a whole checkpoint: that one is renamed)."""
    with contextlib.suppress(OSError):
        for stale in path.parent.glob(f".{path.name}.*.tmp"):
            with contextlib.suppress(OSError):
                stale.unlink()


def _cpu(value: Any) -> Any:
    """Tensors moved to the CPU (a checkpoint from a GPU run opens anywhere), containers kept."""
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().clone()
    if isinstance(value, dict):
        return {k: _cpu(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_cpu(v) for v in value)
    return value


class CheckpointWriter:
    """Writes the checkpoint of a run after each whole epoch (called by :func:`train`)."""

    def __init__(self, plan: CheckpointPlan, config: TrainConfig, class_names: tuple[str, ...],
                 mean: tuple[float, ...], std: tuple[float, ...], sizes: tuple[int, int],
                 device: torch.device) -> None:
        self.plan, self.config, self.class_names = plan, config, class_names
        self.mean, self.std, self.sizes, self.device = mean, std, sizes, device
        self._first = True

    def write(self, history: list[EpochStats], evaluation: Evaluation, model: nn.Module,
              optimizer: torch.optim.Optimizer, schedule: torch.optim.lr_scheduler.LRScheduler,
              generator: torch.Generator) -> None:
        path = self.plan.path
        epoch = history[-1].epoch
        meta = {"config": dataclasses.asdict(self.config), "epoch": epoch, "history": [vars(h) for h in history],
                "class_names": list(self.class_names), "mean": list(self.mean), "std": list(self.std),
                "sizes": list(self.sizes), "command": self.plan.command, "out": self.plan.out,
                "device_type": self.device.type, "torch": torch.__version__,
                "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
        rng = {"torch": torch.get_rng_state(), "generator": generator.get_state().cpu()}
        if self.device.type == "cuda":
            rng["cuda"] = torch.cuda.get_rng_state(self.device)
        state = {"format": FORMAT, "version": VERSION, "meta": json.dumps(meta),
                 "model": _cpu(model.state_dict()), "optimizer": _cpu(optimizer.state_dict()),
                 "scheduler": _cpu(schedule.state_dict()), "rng": rng}
        card = model_card(path.stem, self.config, history, evaluation, self.class_names, self.mean, self.std,
                          self.sizes, self.plan.command)
        card["checkpoint_epoch"] = epoch
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            if self._first:
                _remove_stale_temporaries(path)
                self._first = False
            _atomic_save(state, path)
            atomic_write_text(card_of(path), json.dumps(card, indent=1))
        except OSError as exc:
            raise CheckpointError(f"The checkpoint {path} could not be written ({exc.strerror or exc}).") from None


# ---- reading -------------------------------------------------------------------------------------------------
class _DamagedError(Exception):
    """A field of the meta JSON that is missing or of the wrong kind (said as the end of a sentence)."""


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return (_is_int(value) or isinstance(value, float)) and math.isfinite(float(value))  # type: ignore[arg-type]


def _get(meta: dict, key: str, ok: Any, what: str) -> Any:
    value = meta.get(key)
    if not ok(value):
        raise _DamagedError(f"its '{key}' is not {what}")
    return value


_CONFIG_FIELDS: dict[str, tuple[Any, str]] = {
    "arch": (lambda v: isinstance(v, str) and v, "an architecture name"),
    "dataset": (lambda v: isinstance(v, str) and v, "a dataset name"),
    "epochs": (lambda v: _is_int(v) and 1 <= v <= 100_000, "a number of epochs"),
    "batch_size": (lambda v: _is_int(v) and 1 <= v <= 1_000_000, "a batch size"),
    "lr": (lambda v: _is_number(v) and v > 0, "a positive learning rate"),
    "seed": (_is_int, "a whole number"),
    "augment": (lambda v: v in AUGMENTS, f"one of {', '.join(AUGMENTS)}"),
    "weight_decay": (lambda v: _is_number(v) and v >= 0, "a weight decay"),
    "limit": (lambda v: v is None or (_is_int(v) and v >= 1), "a number of samples"),
    "data_root": (lambda v: v is None or isinstance(v, str), "a folder"),
}


def _config(raw: object) -> TrainConfig:
    if not isinstance(raw, dict):
        raise _DamagedError("its 'config' is not a training configuration")
    values = {}
    for f in dataclasses.fields(TrainConfig):
        ok, what = _CONFIG_FIELDS[f.name]
        if f.name not in raw and f.default is not dataclasses.MISSING:
            values[f.name] = f.default
            continue
        values[f.name] = _get(raw, f.name, ok, what)
    return TrainConfig(**values)


def _history(raw: object) -> list[EpochStats]:
    if not isinstance(raw, list):
        raise _DamagedError("its 'history' is not a list of epochs")
    history = []
    for entry in raw:
        if not isinstance(entry, dict) or not _is_int(entry.get("epoch")) or not all(
                isinstance(entry.get(k), (int, float)) for k in ("loss", "train_accuracy", "test_accuracy", "seconds")):
            raise _DamagedError("its 'history' holds an entry that is not an epoch's numbers")
        history.append(EpochStats(entry["epoch"], float(entry["loss"]), float(entry["train_accuracy"]),
                                  float(entry["test_accuracy"]), float(entry["seconds"])))
    return history


def _channel_stats(value: object) -> bool:
    return isinstance(value, list) and 1 <= len(value) <= 4 and all(_is_number(x) for x in value)


def _tensors(value: object) -> bool:
    return isinstance(value, dict) and all(isinstance(k, str) and isinstance(v, torch.Tensor)
                                           for k, v in value.items())


def read_checkpoint(path: str | os.PathLike[str], arch: str | None = None, dataset: str | None = None) -> Checkpoint:
    """A checkpoint written by :class:`CheckpointWriter`, read with ``torch.load(weights_only=True)``.

    ``arch`` and ``dataset``, where given, are what the caller means to train: a checkpoint of another
    architecture or dataset is refused with a sentence, as is a file that is not a checkpoint."""
    from cnnviz.core.models.zoo import ARCHITECTURES, TORCHVISION_MODELS

    path = Path(path)
    name = path.name
    regular_file(path, "training checkpoint", CheckpointError, SUFFIX)
    if path.suffix == ".safetensors":
        raise CheckpointError(f"{name} is a trained model, not a training checkpoint; give the {SUFFIX} file "
                              f"written beside it (e.g. {checkpoint_beside(path).name}).")
    not_one = CheckpointError(f"{name} is not a cnnviz training checkpoint (not readable as one: damaged, "
                              "truncated or another kind of file).")
    try:
        if not zipfile.is_zipfile(path):  # what torch.save writes (the old non-zip format was never ours)
            raise not_one
    except OSError as exc:
        raise CheckpointError(f"{name} cannot be read ({exc.strerror or exc}).") from None
    try:
        with quiet():
            raw = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - pickle/zip/EOF/runtime errors all mean "not a checkpoint we read"
        if "weights only" in str(exc).lower():
            raise CheckpointError(f"{name} holds pickled Python objects, not a cnnviz training checkpoint; "
                                  "cnnviz never unpickles code to resume a run.") from None
        raise not_one from None
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        raise CheckpointError(f"{name} is not a cnnviz training checkpoint (written by 'cnnviz train' or the "
                              "app's Train panel after each epoch).")
    if raw.get("version") != VERSION:
        raise CheckpointError(f"{name} is a training checkpoint of another version ({raw.get('version')!r}; "
                              f"this cnnviz reads version {VERSION}).")
    try:
        if not isinstance(raw.get("meta"), str):
            raise _DamagedError("it has no settings")
        try:
            meta = json.loads(raw["meta"])
        except ValueError:
            raise _DamagedError("its settings are not JSON") from None
        if not isinstance(meta, dict):
            raise _DamagedError("its settings are not a JSON object")
        config = _config(meta.get("config"))
        epoch = _get(meta, "epoch", lambda v: _is_int(v) and 1 <= v <= config.epochs, "a number of epochs done")
        history = _history(meta.get("history"))
        if [h.epoch for h in history] != list(range(1, epoch + 1)):
            raise _DamagedError(f"its history does not list epochs 1 to {epoch}")
        class_names = tuple(_get(meta, "class_names", lambda v: isinstance(v, list) and len(v) >= 2 and all(
            isinstance(c, str) for c in v), "a list of class names"))
        mean = tuple(float(v) for v in _get(meta, "mean", _channel_stats, "a list of channel means"))
        std = tuple(float(v) for v in _get(meta, "std", lambda v: _channel_stats(v) and min(v) > 0,
                                           "a list of spreads"))
        sizes = _get(meta, "sizes", lambda v: isinstance(v, list) and len(v) == 2 and all(
            _is_int(x) and x >= 0 for x in v), "the train and test sizes")
        command = _get(meta, "command", lambda v: isinstance(v, str), "a command")
        out = _get(meta, "out", lambda v: v is None or isinstance(v, str), "a file name")
        device_type = _get(meta, "device_type", lambda v: isinstance(v, str), "a device type")
        if not _tensors(raw.get("model")):
            raise _DamagedError("its model weights are not tensors")
        if not isinstance(raw.get("optimizer"), dict) or not isinstance(raw.get("scheduler"), dict):
            raise _DamagedError("it has no optimiser or schedule state")
        if not _tensors(raw.get("rng")) or "torch" not in raw["rng"] or "generator" not in raw["rng"]:
            raise _DamagedError("it has no random state")
    except _DamagedError as exc:
        raise CheckpointError(f"{name} is a damaged training checkpoint: {exc}.") from None
    if config.arch not in ARCHITECTURES and config.arch not in TORCHVISION_MODELS:
        raise CheckpointError(f"{name} continues a run of '{config.arch}', an architecture this cnnviz does not know.")
    if (arch is not None and arch != config.arch) or (dataset is not None and dataset != config.dataset):
        raise CheckpointError(f"{name} is a checkpoint of {config.arch} trained on {config.dataset}, not of "
                              f"{arch or config.arch} on {dataset or config.dataset}; it cannot continue that run.")
    return Checkpoint(path, config, epoch, history, class_names, mean, std, (sizes[0], sizes[1]), command, out,
                      device_type, {k: raw[k] for k in ("model", "optimizer", "scheduler", "rng")})


# ---- restoring -----------------------------------------------------------------------------------------------
def restore(checkpoint: Checkpoint, config: TrainConfig, train_data: ArrayDataset, test_data: ArrayDataset,
            model: nn.Module, optimizer: torch.optim.Optimizer, schedule: torch.optim.lr_scheduler.LRScheduler,
            generator: torch.Generator, device: torch.device) -> None:
    """Put a checkpoint's state into a freshly built run (called by :func:`train` with ``resume``)."""
    name = checkpoint.path.name
    c = checkpoint.config
    if dataclasses.replace(config, data_root=None) != dataclasses.replace(c, data_root=None):  # (data may move)
        raise CheckpointError(f"{name} was written by a run with other settings ({c.arch} on {c.dataset}, "
                              f"{c.epochs} epochs, batch size {c.batch_size}, learning rate {c.lr}, seed {c.seed}).")
    channels = 1 if train_data.images.ndim == 3 else train_data.images.shape[3]
    if ((len(train_data), len(test_data)) != checkpoint.sizes or train_data.class_names != checkpoint.class_names
            or channels != len(checkpoint.mean)):
        raise CheckpointError(
            f"{name} was trained on {checkpoint.sizes[0]} {c.dataset} images in {len(checkpoint.class_names)} "
            f"classes ({checkpoint.sizes[1]} to test); the data found now has {len(train_data)} images in "
            f"{len(train_data.class_names)} classes ({len(test_data)} to test), so it cannot continue that run.")
    state = checkpoint.state
    try:
        model.load_state_dict(state["model"])
    except (RuntimeError, ValueError, KeyError):
        raise CheckpointError(f"{name} does not fit {c.arch}: its weights have other names or shapes.") from None
    try:
        optimizer.load_state_dict(state["optimizer"])
    except (RuntimeError, ValueError, KeyError, TypeError, IndexError):
        raise CheckpointError(f"{name} is a damaged training checkpoint: its optimiser state does not fit "
                              f"{c.arch}.") from None
    scheduler = state["scheduler"]
    steps = (len(train_data) + c.batch_size - 1) // c.batch_size
    if scheduler.get("total_steps") != c.epochs * steps or scheduler.get("last_epoch") != checkpoint.epoch * steps:
        raise CheckpointError(f"{name} is a damaged training checkpoint: its learning-rate schedule is not at "
                              f"the end of epoch {checkpoint.epoch}.")
    schedule.load_state_dict(scheduler)
    rng = state["rng"]
    try:
        torch.set_rng_state(rng["torch"])
        if device.type == checkpoint.device_type:
            generator.set_state(rng["generator"])
            if device.type == "cuda" and "cuda" in rng:
                torch.cuda.set_rng_state(rng["cuda"], device)
        else:  # another kind of device has another kind of generator: a new, still repeatable, stream
            generator.manual_seed(c.seed * 100_003 + checkpoint.epoch)
    except (RuntimeError, ValueError, TypeError):
        raise CheckpointError(f"{name} is a damaged training checkpoint: its random state cannot be "
                              "restored.") from None


def resume_data(checkpoint: Checkpoint, data_root: str | None = None,
                download: bool = False) -> tuple[ArrayDataset, ArrayDataset]:
    """The train and test sets of a checkpoint's run, read as that run read them (``data_root`` if the data
    has moved since)."""
    from cnnviz.core.train.training import training_data

    c = checkpoint.config
    return training_data(c.dataset, data_root or c.data_root, c.seed, c.limit, download)
