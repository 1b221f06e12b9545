"""Training a zoo architecture on array data, and writing weights + model card + plots.

Weights go to safetensors (no pickle), with the architecture, class names and mean/std in
its metadata so the file opens by itself; the card beside it records how it was made.
After every whole epoch a run can write a checkpoint (cnnviz.core.train.checkpoint) that
``train(..., resume=...)`` continues from, so a killed run loses at most the epoch it was in.
"""

from __future__ import annotations

import datetime
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from cnnviz.core.data.augment import augment_digits, augment_fashion
from cnnviz.core.data.datasets import ArrayDataset
from cnnviz.core.fileio import atomic_write_text
from cnnviz.core.models.zoo import build_architecture
from cnnviz.core.train.evaluation import Evaluation, evaluate, to_tensor

if TYPE_CHECKING:
    from cnnviz.core.train.checkpoint import Checkpoint, CheckpointPlan


@dataclass
class TrainConfig:
    arch: str
    dataset: str
    epochs: int = 10
    batch_size: int = 64
    lr: float = 1e-3
    seed: int = 0
    augment: str = "auto"  # auto | digits | fashion | none
    weight_decay: float = 1e-4
    limit: int | None = None  # only the first N training samples (recorded so a resumed run reads the same data)
    data_root: str | None = None  # where the dataset was read from (a resumed run looks there again)


@dataclass
class EpochStats:
    epoch: int
    loss: float
    train_accuracy: float
    test_accuracy: float
    seconds: float


@dataclass
class TrainResult:
    model: nn.Module
    history: list[EpochStats] = field(default_factory=list)
    evaluation: Evaluation | None = None
    #: Set when the run continued a checkpoint: {"checkpoint": path, "epoch": epochs it held, "command": its command}.
    resumed_from: dict | None = None
    #: The last epoch the checkpoint holds (0: none written, and nothing resumed).
    checkpoint_epoch: int = 0


class TrainControl:
    """Pause, resume and stop a training run from another thread (the app's Train panel)."""

    def __init__(self) -> None:
        self._running = threading.Event()
        self._running.set()
        self._stop = threading.Event()

    def pause(self) -> None:
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

    def stop(self) -> None:
        self._stop.set()
        self._running.set()  # a paused run wakes up to stop

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    def checkpoint(self) -> bool:
        """Called between batches: waits while paused; False once stopped."""
        self._running.wait()
        return not self._stop.is_set()


def training_data(dataset: str, root: str | None, seed: int = 0, limit: int | None = None,
                  download: bool = False) -> tuple[ArrayDataset, ArrayDataset]:
    """The train and test sets of ``dataset``; the shipped samples are split 80/20 by ``seed``."""
    from cnnviz.core.data.datasets import load_dataset

    train_data = load_dataset(dataset, root, train=True, download=download)
    test_data = load_dataset(dataset, root, train=False, download=download)
    if dataset.startswith("samples-"):
        order = np.random.default_rng(seed).permutation(len(train_data))
        cut = int(len(order) * 0.8)
        train_data, test_data = train_data.subset(order[:cut]), train_data.subset(order[cut:])
    if limit:
        train_data = train_data.subset(slice(0, limit))
    return train_data, test_data


def dataset_stats(images: np.ndarray) -> tuple[tuple[float, ...], tuple[float, ...]]:
    x = images.astype(np.float32) / 255.0
    if x.ndim == 3:
        return (round(float(x.mean()), 4),), (round(float(x.std()), 4),)
    return tuple(round(float(v), 4) for v in x.mean((0, 1, 2))), tuple(round(float(v), 4) for v in x.std((0, 1, 2)))


def _augmenter(config: TrainConfig) -> Callable | None:
    kind = config.augment
    if kind == "auto":
        kind = {"mnist": "digits", "samples-mnist": "digits", "fashion-mnist": "fashion",
                "samples-fashion": "fashion"}.get(config.dataset, "none")
    return {"digits": augment_digits, "fashion": augment_fashion}.get(kind)


def train(config: TrainConfig, train_data: ArrayDataset, test_data: ArrayDataset, device: torch.device,
          mean: tuple[float, ...], std: tuple[float, ...],
          progress: Callable[[int, int], Callable] | None = None,
          on_epoch: Callable[[EpochStats], None] | None = None,
          on_step: Callable[[int, float, float, nn.Module], None] | None = None,
          control: TrainControl | None = None, checkpoint: CheckpointPlan | None = None,
          resume: Checkpoint | None = None) -> TrainResult:
    """Adam with a one-cycle learning rate; augmentation on the device; evaluation every epoch.

    ``progress(epoch, batches)`` returns a wrapper for the batch iterator (a tqdm bar in the CLI).
    ``on_step(step, loss, batch_accuracy, model)`` follows every batch (the app's live curves);
    ``control`` pauses or stops the run between batches (a stopped run is evaluated as it stands).
    ``checkpoint`` writes a checkpoint and its card after every whole epoch (before ``on_epoch`` hears of
    it; an epoch cut short by a stop is not checkpointed, the one before it stays). ``resume`` (from
    :func:`cnnviz.core.train.checkpoint.read_checkpoint`) restores the model, optimiser, schedule and random
    state of a checkpoint of this same config and data, and trains the epochs after it; its history
    is kept, so the result holds every epoch of the run.
    """
    torch.manual_seed(config.seed)
    generator = torch.Generator(device=device)
    generator.manual_seed(config.seed)
    channels = 1 if train_data.images.ndim == 3 else train_data.images.shape[3]
    model = build_architecture(config.arch, len(train_data.class_names), channels).to(device)
    pixels = to_tensor(train_data.images, (0.0,) * channels, (1.0,) * channels).to(device)  # [0, 1]
    labels = torch.from_numpy(train_data.labels).to(device)
    m = torch.tensor(mean, device=device).view(1, -1, 1, 1)
    s = torch.tensor(std, device=device).view(1, -1, 1, 1)
    optimiser = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    steps = (len(labels) + config.batch_size - 1) // config.batch_size
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=config.lr, total_steps=config.epochs * steps)
    augment = _augmenter(config)
    result = TrainResult(model)
    first = 1
    if resume is not None:
        from cnnviz.core.train.checkpoint import restore

        restore(resume, config, train_data, test_data, model, optimiser, schedule, generator, device)
        result.history = list(resume.history)
        result.resumed_from = {"checkpoint": str(resume.path), "epoch": resume.epoch, "command": resume.command}
        first = resume.epoch + 1
        result.checkpoint_epoch = resume.epoch
    writer = None
    if checkpoint is not None:
        from cnnviz.core.train.checkpoint import CheckpointWriter

        writer = CheckpointWriter(checkpoint, config, train_data.class_names, mean, std,
                                  (len(train_data), len(test_data)), device)
    for epoch in range(first, config.epochs + 1):
        start = time.perf_counter()
        model.train()
        order = torch.randperm(len(labels), generator=generator, device=device)
        batches = range(steps)
        if progress is not None:
            batches = progress(epoch, steps)(batches)
        total_loss, correct, seen, whole = 0.0, 0, 0, False
        for b in batches:
            if control is not None and not control.checkpoint():
                break
            idx = order[b * config.batch_size:(b + 1) * config.batch_size]
            x = pixels[idx]
            if augment is not None:
                x = augment(x, generator)
            logits = model((x - m) / s)
            loss = F.cross_entropy(logits, labels[idx])
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            schedule.step()
            batch_loss = float(loss.detach())
            batch_correct = int((logits.argmax(1) == labels[idx]).sum())
            total_loss += batch_loss * len(idx)
            correct += batch_correct
            seen += len(idx)
            if on_step is not None:
                on_step((epoch - 1) * steps + b + 1, batch_loss, batch_correct / len(idx), model)
        else:
            whole = True
        if seen == 0:
            break
        evaluation = evaluate(model, test_data, mean, std)
        stats = EpochStats(epoch, total_loss / seen, correct / seen, evaluation.accuracy,
                           time.perf_counter() - start)
        result.history.append(stats)
        result.evaluation = evaluation
        if writer is not None and whole:
            writer.write(result.history, evaluation, model, optimiser, schedule, generator)
            result.checkpoint_epoch = epoch
        if on_epoch is not None:
            on_epoch(stats)
        if control is not None and control.stopped:
            break
    if result.evaluation is None and result.history:  # resumed with nothing left to train (or stopped at once)
        result.evaluation = evaluate(model, test_data, mean, std)
    model.eval()
    return result


def model_card(name: str, config: TrainConfig, history: list[EpochStats], evaluation: Evaluation | None,
               class_names: tuple[str, ...], mean: tuple[float, ...], std: tuple[float, ...],
               sizes: tuple[int, int], command: str) -> dict:
    """The model card: how a model was trained and how well it does (JSON beside its weights)."""
    return {
        "name": name, "architecture": config.arch, "dataset": config.dataset,
        "train_size": sizes[0], "test_size": sizes[1], "epochs": config.epochs, "batch_size": config.batch_size,
        "lr": config.lr, "seed": config.seed, "augmentation": config.augment,
        "mean": list(mean), "std": list(std), "class_names": list(class_names),
        "test_accuracy": evaluation.accuracy if evaluation else None,
        "per_class_accuracy": evaluation.per_class if evaluation else None,
        "history": [vars(h) for h in history],
        "command": command, "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "torch": torch.__version__,
    }


def save_trained(out: Path, result: TrainResult, config: TrainConfig, class_names: tuple[str, ...],
                 mean: tuple[float, ...], std: tuple[float, ...], sizes: tuple[int, int], command: str) -> Path:
    """Write ``out`` (safetensors), its model card JSON and the curves/confusion PNGs beside it."""
    from safetensors.torch import save_file

    from cnnviz.core.train.plots import confusion_png, curves_png

    out.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in result.model.state_dict().items()}
    metadata = {"arch": config.arch, "class_names": json.dumps(list(class_names)),
                "mean": json.dumps(list(mean)), "std": json.dumps(list(std)), "dataset": config.dataset}
    temp = out.with_suffix(".safetensors.tmp")
    save_file(state, str(temp), metadata=metadata)
    temp.replace(out)
    evaluation = result.evaluation
    card = model_card(out.stem, config, result.history, evaluation, class_names, mean, std, sizes, command)
    card["resumed_from"] = result.resumed_from
    atomic_write_text(out.with_suffix(".json"), json.dumps(card, indent=1))
    curves_png(out.with_name(out.stem + "-curves.png"), result.history)
    if evaluation is not None:
        confusion_png(out.with_name(out.stem + "-confusion.png"), evaluation.confusion, class_names)
    return out.with_suffix(".json")
