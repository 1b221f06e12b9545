"""The Train panel: train a zoo architecture inside the app and watch it learn (the widget).

Training runs on its own thread (train_runner's TrainRunner, with cnnviz.core.train.training, the same
code as ``cnnviz train``); every batch reports its loss and accuracy by signal, the first-layer filters
are redrawn every few steps as they form, and the curves repaint at most ten times a second, so the
window stays responsive. Pause / continue / stop act between batches.

After every whole epoch the training thread writes a checkpoint (cnnviz.core.train.checkpoint) into the
panel's folder (the app's data folder, ``trained/ARCH-DATASET.ckpt``, its card beside it), so a stopped,
crashed or killed run loses at most the epoch it was in; Resume continues the newest checkpoint there (or
one picked in a file dialog when there is none), with that run's settings.
"""

from __future__ import annotations

import datetime
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QStandardPaths, QThread, QTimer, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from cnnviz.core.models.architectures import ARCHITECTURES
from cnnviz.core.train.checkpoint import SUFFIX as CHECKPOINT_SUFFIX
from cnnviz.core.train.training import EpochStats, TrainConfig, TrainControl
from cnnviz.qt.controller import Controller
from cnnviz.qt.panels.train_runner import (
    FILTER_EVERY,
    Resumed,
    Trained,
    TrainJob,
    TrainRunner,
    newest_checkpoint,
    panel_command,
)

__all__ = ["DATASETS", "FILTER_EVERY", "Resumed", "TrainJob", "TrainPanel", "TrainRunner", "Trained",
           "newest_checkpoint", "panel_command"]

DATASETS = {"samples-mnist": "MNIST samples (shipped, 200)", "samples-fashion": "Fashion-MNIST samples (shipped)",
            "mnist": "MNIST (IDX files on disk)", "fashion-mnist": "Fashion-MNIST (IDX files on disk)",
            "folder": "a folder of class sub-folders"}


class TrainPanel(QWidget):
    open_model = Signal(str)  # a saved checkpoint to open in the main views
    _start = Signal(object)
    _save = Signal(object, str, bool)

    def __init__(self, controller: Controller, parent: QWidget | None = None, folder: Path | None = None) -> None:
        super().__init__(parent)
        #: Where checkpoints (after every epoch) and models opened in the main view are written.
        self.folder = folder or Path(QStandardPaths.writableLocation(
            QStandardPaths.StandardLocation.AppDataLocation)) / "trained"
        self._device = lambda: controller.state.device
        self.open_model.connect(controller.load_model)
        self.arch = QComboBox()
        self.arch.addItems(list(ARCHITECTURES))
        self.dataset = QComboBox()
        for key, label in DATASETS.items():
            self.dataset.addItem(label, key)
        self.root = QLineEdit()
        self.root.setPlaceholderText("folder holding the dataset (not needed for the shipped samples)")
        browse = QPushButton("Browse...")
        browse.clicked.connect(self._browse)
        self.epochs = QSpinBox()
        self.epochs.setRange(1, 200)
        self.epochs.setValue(5)
        self.batch = QSpinBox()
        self.batch.setRange(4, 1024)
        self.batch.setValue(32)
        self.lr = QDoubleSpinBox()
        self.lr.setDecimals(4)
        self.lr.setRange(0.0001, 0.5)
        self.lr.setSingleStep(0.0005)
        self.lr.setValue(0.003)
        self.start_button = QPushButton("Train")
        self.pause_button = QPushButton("Pause")
        self.stop_button = QPushButton("Stop")
        self.resume_button = QPushButton("Resume")
        self.save_button = QPushButton("Save...")
        self.use_button = QPushButton("Open in main view")
        self.start_button.clicked.connect(self.start)
        self.pause_button.clicked.connect(self.toggle_pause)
        self.stop_button.clicked.connect(self.stop)
        self.resume_button.clicked.connect(lambda: self.resume())
        self.save_button.clicked.connect(self._save_dialog)
        self.use_button.clicked.connect(self.use_in_main_view)
        self.status = QLabel("Pick an architecture and a dataset, then Train.")
        self.status.setWordWrap(True)

        form = QFormLayout()
        form.addRow("Architecture", self.arch)
        form.addRow("Dataset", self.dataset)
        root_row = QHBoxLayout()
        root_row.addWidget(self.root, 1)
        root_row.addWidget(browse)
        form.addRow("Data folder", root_row)
        form.addRow("Epochs", self.epochs)
        form.addRow("Batch size", self.batch)
        form.addRow("Learning rate", self.lr)
        buttons = QHBoxLayout()
        for button in (self.start_button, self.pause_button, self.stop_button, self.resume_button, self.save_button,
                       self.use_button):
            buttons.addWidget(button)

        self.loss_plot = pg.PlotWidget(title="loss (per batch)")
        self.loss_plot.setBackground("w")
        self.loss_plot.setLabel("bottom", "step")
        self.loss_curve = self.loss_plot.plot([], [], pen=pg.mkPen((67, 147, 195), width=1))
        self.loss_smooth = self.loss_plot.plot([], [], pen=pg.mkPen((5, 48, 97), width=3))
        self.acc_plot = pg.PlotWidget(title="accuracy: batches (line), test set per epoch (dots)")
        self.acc_plot.setBackground("w")
        self.acc_plot.setLabel("bottom", "step")
        self.acc_plot.setYRange(0, 1)
        self.acc_curve = self.acc_plot.plot([], [], pen=pg.mkPen((214, 96, 77), width=2))
        self.test_curve = self.acc_plot.plot([], [], pen=None, symbol="o", symbolBrush=(103, 0, 31), symbolSize=10)
        self.filter_view = pg.GraphicsLayoutWidget()
        self.filter_view.setBackground("w")
        box = self.filter_view.addViewBox(lockAspect=True, invertY=True)
        box.setMenuEnabled(False)
        self.filter_box = box
        self.filter_item = pg.ImageItem(axisOrder="row-major")
        box.addItem(self.filter_item)

        left = QVBoxLayout()
        left.addLayout(form)
        left.addLayout(buttons)
        left.addWidget(self.status)
        left.addWidget(QLabel("First-layer filters as they form"))
        left.addWidget(self.filter_view, 1)
        plots = QVBoxLayout()
        plots.addWidget(self.loss_plot, 1)
        plots.addWidget(self.acc_plot, 1)
        layout = QHBoxLayout(self)
        layout.addLayout(left, 2)
        layout.addLayout(plots, 3)

        self.steps: list[int] = []
        self.losses: list[float] = []
        self.accuracies: list[float] = []
        self.test_points: list[tuple[int, float]] = []
        self.trained: Trained | None = None
        self.saved: Path | None = None
        self._filters: np.ndarray | None = None
        self._filters_shape: tuple[int, ...] = ()
        self._dirty = False
        self._redraw = QTimer(self)
        self._redraw.setInterval(100)
        self._redraw.timeout.connect(self._repaint)

        self.thread = QThread()
        self.thread.setObjectName("cnnviz-training")
        self.runner = TrainRunner()
        self.runner.moveToThread(self.thread)
        self._start.connect(self.runner.run)
        self._save.connect(self.runner.save)
        self.runner.saved.connect(self._on_saved)
        self.runner.step.connect(self._on_step)
        self.runner.filters.connect(self._on_filters)
        self.runner.epoch.connect(self._on_epoch)
        self.runner.finished.connect(self._on_finished)
        self.runner.failed.connect(self._on_failed)
        self.runner.info.connect(self.status.setText)
        self.runner.resumed.connect(self._on_resumed)
        self.thread.start()
        self.running = False
        self._buttons()
        found = newest_checkpoint(self.folder)
        if found is not None:
            self.status.setText(f"A checkpoint of an earlier run is here ({found.name}): Resume continues it, or "
                                "pick an architecture and a dataset, then Train.")

    # ---- control ------------------------------------------------------------------------
    def _buttons(self) -> None:
        self.start_button.setEnabled(not self.running)
        self.pause_button.setEnabled(self.running)
        self.stop_button.setEnabled(self.running)
        self.resume_button.setEnabled(not self.running)
        self.save_button.setEnabled(self.trained is not None and not self.running)
        self.use_button.setEnabled(self.trained is not None and not self.running)
        self.pause_button.setText("Continue" if self.runner.control.paused else "Pause")
        found = None if self.running else newest_checkpoint(self.folder)
        self.resume_button.setToolTip(f"Continue the run in {found.name} (the newest checkpoint in {self.folder})"
                                      if found else "Continue a run from its checkpoint (.ckpt)...")

    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Dataset folder")
        if folder:
            self.root.setText(folder)

    def start(self) -> None:
        if self.running:
            return
        dataset = str(self.dataset.currentData())
        root = self.root.text().strip() or None
        config = TrainConfig(self.arch.currentText(), dataset, self.epochs.value(), self.batch.value(),
                             float(self.lr.value()), data_root=root)  # (in the checkpoint: Resume reads it again)
        checkpoint = self.folder / f"{config.arch}-{config.dataset}{CHECKPOINT_SUFFIX}"
        self._launch(TrainJob(config, root, self._device(), str(checkpoint)))

    def resume(self, path: str | Path | None = None) -> None:
        """Continue a run from its checkpoint: ``path``, else the newest in the panel's folder, else one picked."""
        if self.running:
            return
        if path is None:
            path = newest_checkpoint(self.folder)
        if path is None:
            path, _ = QFileDialog.getOpenFileName(self, "Resume training from a checkpoint", str(self.folder),
                                                  f"Checkpoints (*{CHECKPOINT_SUFFIX})")
            if not path:
                return
        self._launch(TrainJob(None, None, self._device(), str(path), resume=str(path)))

    def _launch(self, job: TrainJob) -> None:
        self.steps, self.losses, self.accuracies, self.test_points = [], [], [], []
        self.trained, self.saved = None, None
        self.runner.control = TrainControl()
        self.running = True
        self.status.setText("reading the checkpoint..." if job.resume else "loading the data...")
        self._buttons()
        self._redraw.start()
        self._start.emit(job)

    def toggle_pause(self) -> None:
        control = self.runner.control
        if control.paused:
            control.resume()
            self.status.setText("training...")
        else:
            control.pause()
            self.status.setText("paused (Continue goes on from this batch)")
        self._buttons()

    def stop(self) -> None:
        self.runner.control.stop()
        self.status.setText("stopping after this batch...")

    # ---- progress -----------------------------------------------------------------------
    def _on_step(self, step: int, loss: float, accuracy: float) -> None:
        self.steps.append(step)
        self.losses.append(loss)
        self.accuracies.append(accuracy)
        self._dirty = True

    def _on_filters(self, grid: np.ndarray) -> None:
        self._filters = grid
        self._dirty = True

    def _on_resumed(self, resumed: Resumed) -> None:
        """Show the settings of the run being continued, and the test accuracy of the epochs it already holds."""
        c = resumed.config
        if (index := self.arch.findText(c.arch)) >= 0:
            self.arch.setCurrentIndex(index)
        if (index := self.dataset.findData(c.dataset)) >= 0:
            self.dataset.setCurrentIndex(index)
        self.epochs.setValue(c.epochs)
        self.batch.setValue(c.batch_size)
        self.lr.setValue(c.lr)
        self.root.setText(c.data_root or "")
        self.test_points = [(h.epoch * resumed.steps_per_epoch, h.test_accuracy) for h in resumed.history]
        self._dirty = True

    def _on_epoch(self, stats: EpochStats) -> None:
        self.test_points.append((self.steps[-1] if self.steps else 0, stats.test_accuracy))
        self.status.setText(f"epoch {stats.epoch}: loss {stats.loss:.3f}, train accuracy "
                            f"{stats.train_accuracy * 100:.1f} %, test accuracy {stats.test_accuracy * 100:.1f} %")
        self._dirty = True

    def _repaint(self) -> None:
        if not self._dirty:
            return
        self._dirty = False
        if self.steps:
            x = np.asarray(self.steps)
            loss = np.asarray(self.losses)
            self.loss_curve.setData(x, loss)
            window = max(1, min(20, len(loss) // 5))
            smooth = np.convolve(loss, np.ones(window) / window, mode="valid")
            self.loss_smooth.setData(x[window - 1:], smooth)
            acc = np.convolve(np.asarray(self.accuracies), np.ones(window) / window, mode="valid")
            self.acc_curve.setData(x[window - 1:], acc)
        if self.test_points:
            points = np.asarray(self.test_points)
            self.test_curve.setData(points[:, 0], points[:, 1])
        if self._filters is not None:
            self.filter_item.setImage(np.ascontiguousarray(self._filters), autoLevels=False)
            if self._filters.shape != self._filters_shape:
                self._filters_shape = self._filters.shape
                self.filter_box.autoRange(padding=0.02)

    def _on_finished(self, trained: Trained) -> None:
        self.running = False
        self.trained = trained
        self._dirty = True
        self._repaint()
        self._redraw.stop()
        evaluation = trained.result.evaluation
        accuracy = f"test accuracy {evaluation.accuracy * 100:.1f} %" if evaluation else "no evaluation"
        stopped = ""
        if self.runner.control.stopped:
            kept = trained.result.checkpoint_epoch
            stopped = (f" (stopped early; the checkpoint holds epoch {kept}: Resume goes on from there)" if kept
                       else " (stopped early)")
        self.status.setText(f"done{stopped}: {len(trained.result.history)} epoch(s), {accuracy}. Save it, or open it "
                            "in the main view.")
        self._buttons()

    def _on_failed(self, message: str) -> None:
        self.running = False
        self._redraw.stop()
        self.status.setText(message)
        self._buttons()

    # ---- results ------------------------------------------------------------------------
    def save(self, path: str | Path, then_open: bool = False) -> None:
        """Save on the training thread; ``then_open`` opens the file in the main views once written."""
        if self.trained is None:
            return
        out = Path(path)
        if out.suffix != ".safetensors":
            out = out.with_name(out.name + ".safetensors")
        self.status.setText(f"saving {out.name}...")
        self._save.emit(self.trained, str(out), then_open)

    def _on_saved(self, path: str, then_open: bool) -> None:
        self.saved = Path(path)
        self.status.setText(f"saved {path} with its model card and plots.")
        if then_open:
            self.open_model.emit(path)

    def _save_dialog(self) -> None:
        if self.trained is None:
            return
        c = self.trained.config
        path, _ = QFileDialog.getSaveFileName(self, "Save trained model", f"{c.arch}-{c.dataset}.safetensors",
                                              "Weights (*.safetensors)")
        if path:
            self.save(path)

    def use_in_main_view(self) -> None:
        """Open the trained model in the main views (saved first, under the app's data folder if needed)."""
        if self.trained is None:
            return
        if self.saved is not None:
            self.open_model.emit(str(self.saved))
            return
        folder = self.folder
        folder.mkdir(parents=True, exist_ok=True)
        stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
        c = self.trained.config
        self.save(folder / f"{c.arch}-{c.dataset}-{stamp}.safetensors", then_open=True)

    def shutdown(self) -> None:
        self.runner.control.stop()
        self.thread.quit()
        self.thread.wait(10_000)
