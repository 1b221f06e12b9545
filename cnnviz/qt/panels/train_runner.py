"""The training thread's side of the Train panel: the runner that lives on its QThread, and what it hands over.

TrainRunner runs cnnviz.core.train.training (the same code as ``cnnviz train``), writes the checkpoints
and saves the model, and reports by signal, so the panel's widget never waits on a batch or a file; the
job, the resumed run and the finished run are plain dataclasses handed across between the threads.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QObject, Signal, Slot

from cnnviz.core.train.checkpoint import SUFFIX as CHECKPOINT_SUFFIX
from cnnviz.core.train.training import EpochStats, TrainConfig, TrainControl, TrainResult

#: Redraw the first-layer filters every this many steps.
FILTER_EVERY = 10


@dataclass(frozen=True)
class TrainJob:
    config: TrainConfig | None  # None: the settings of the checkpoint resumed
    root: str | None
    device: str
    checkpoint: str  # written after every whole epoch
    resume: str | None = None  # the checkpoint to continue (then ``checkpoint`` is the same file)


@dataclass(frozen=True)
class Resumed:
    """A checkpoint the training thread is continuing: its settings and the epochs it already holds."""

    config: TrainConfig
    history: list[EpochStats]
    steps_per_epoch: int


def panel_command(c: TrainConfig) -> str:
    """What the model card records as the command that made a model in the panel."""
    return (f"cnnviz app (Train panel): --model {c.arch} --dataset {c.dataset} --epochs {c.epochs} "
            f"--batch-size {c.batch_size} --lr {c.lr} --seed {c.seed}")


def newest_checkpoint(folder: Path) -> Path | None:
    """The checkpoint in ``folder`` written last, if any (a listing and stats: cheap enough for the GUI thread)."""
    try:
        found = [(p.stat().st_mtime, p) for p in folder.glob(f"*{CHECKPOINT_SUFFIX}") if p.is_file()]
    except OSError:
        return None
    return max(found)[1] if found else None


@dataclass
class Trained:
    """A finished run and everything save_trained needs."""

    result: TrainResult
    config: TrainConfig
    class_names: tuple[str, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    sizes: tuple[int, int]


class TrainRunner(QObject):
    """Lives on the training thread."""

    step = Signal(int, float, float)
    filters = Signal(object)  # uint8 RGB grid of the first conv layer
    epoch = Signal(object)  # EpochStats
    finished = Signal(object)  # Trained
    failed = Signal(str)
    info = Signal(str)
    saved = Signal(str, bool)  # path, open it in the main view
    resumed = Signal(object)  # Resumed, before the first batch of a resumed run

    def __init__(self) -> None:
        super().__init__()
        self.control = TrainControl()

    @Slot(object, str, bool)
    def save(self, trained: Trained, path: str, then_open: bool) -> None:
        """Write the trained model, its model card and plots (the ``cnnviz train`` format), off the GUI thread."""
        from cnnviz.core.train.training import save_trained

        c = trained.config
        try:
            save_trained(Path(path), trained.result, c, trained.class_names, trained.mean, trained.std,
                         trained.sizes, panel_command(c))
        except OSError as exc:
            self.failed.emit(f"Could not save {path}: {exc.strerror or exc}")
            return
        self.saved.emit(path, then_open)

    @Slot(object)
    def run(self, job: TrainJob) -> None:
        import torch

        from cnnviz.core.engine.render import filter_grid
        from cnnviz.core.errors import CnnvizError
        from cnnviz.core.models.device import resolve_device
        from cnnviz.core.train.checkpoint import CheckpointPlan, read_checkpoint, resume_data
        from cnnviz.core.train.training import dataset_stats, train, training_data

        try:
            device = resolve_device(job.device)
            resume = None
            if job.resume is not None:  # read here, on the training thread: a checkpoint can be large
                resume = read_checkpoint(job.resume)
                config = resume.config
                train_data, test_data = resume_data(resume)
                mean, std = resume.mean, resume.std
                steps = (len(train_data) + config.batch_size - 1) // config.batch_size
                self.resumed.emit(Resumed(config, list(resume.history), steps))
                plan = CheckpointPlan(Path(job.checkpoint), resume.command)
                left = (f"epochs {resume.epoch + 1} to {config.epochs} on {device}" if not resume.finished
                        else "nothing left to train")
                self.info.emit(f"resuming {resume.describe()} from {Path(job.resume).name}: {left}")
            else:
                assert job.config is not None
                config = job.config
                train_data, test_data = training_data(config.dataset, job.root, config.seed)
                mean, std = dataset_stats(train_data.images)
                plan = CheckpointPlan(Path(job.checkpoint), panel_command(config))
                self.info.emit(f"training {config.arch} on {len(train_data)} images ({len(test_data)} to test) "
                               f"on {device}")

            def on_step(step: int, loss: float, accuracy: float, model: torch.nn.Module) -> None:
                self.step.emit(step, loss, accuracy)
                if step % FILTER_EVERY == 1:
                    conv = next((m for m in model.modules() if isinstance(m, torch.nn.Conv2d)), None)
                    if conv is not None:
                        with torch.no_grad():
                            self.filters.emit(filter_grid(conv.weight.detach(), None, scale=6))

            result = train(config, train_data, test_data, device, mean, std, on_epoch=self.epoch.emit,
                           on_step=on_step, control=self.control, checkpoint=plan, resume=resume)
        except CnnvizError as exc:
            self.failed.emit(str(exc))
            return
        except Exception as exc:  # noqa: BLE001 - the app goes on; the message says what happened
            self.failed.emit(f"Training failed: {exc}")
            return
        self.finished.emit(Trained(result, config, train_data.class_names, mean, std,
                                   (len(train_data), len(test_data))))
