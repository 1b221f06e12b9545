"""The Convolution view's panel: the selected conv (or pool) stage's window sliding over the real current
input, with play / pause / step and a speed from one step a second to the whole map in about a second.

The sweep (the stage's input, weights and captured output) is made on the worker once per input, stage and
channel, while the view is shown; playing only steps through it on the GUI thread, from a QTimer.
"""

from __future__ import annotations

import numpy as np
import torch
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QPushButton, QSlider, QSpinBox, QVBoxLayout, QWidget

from cnnviz.core.engine.frame import FrameResult
from cnnviz.core.engine.stages import StageInfo
from cnnviz.core.models.zoo import ModelSpec
from cnnviz.qt.controller import Controller
from cnnviz.qt.state import ViewState
from cnnviz.qt.views.sweep_view import SweepFrame, SweepView
from cnnviz.qt.widgets.readout import Readout
from cnnviz.qt.worker import Loaded

CAPTION = ("Convolution in motion: the kernel slides over the stage's input one position at a time. At each "
           "position every input channel's patch is multiplied by the kernel, element by element; the products "
           "are summed, the channels' sums added, the bias added, and ReLU keeps what is positive. That one "
           "number is one pixel of the output map, which fills in as the window moves. A pool only picks the "
           "largest value (or the mean) of its window.")
TICK_MS = 33  # the fastest the timer runs: ~30 repaints a second, however many steps each one moves


def sweep_kinds(stages: tuple[StageInfo, ...]) -> list[StageInfo]:
    """The stages whose window can be shown: 2-D convs and pools (the worker checks the module itself)."""
    return [s for s in stages if s.kind in ("conv", "pool") and len(s.shape) == 3]


def make_sweep(loaded: Loaded, rgb: np.ndarray, stage: str, channel: int,
               occlusion: tuple[int, int, int] | None, stamp: float,
               tensor: torch.Tensor | None = None) -> SweepFrame | str:
    """On the worker: the current input (``tensor``: its exact model input, if it came as one) through the
    model, then the window of ``stage``'s ``channel`` (clamped to the stage's channels); a sentence instead
    when the stage has no window to show."""
    from cnnviz.core.engine.inference import run_image
    from cnnviz.core.engine.receptive import receptive_fields
    from cnnviz.core.teach.convolution_steps import SweepError, conv_steps, sweepable

    if loaded.model is None:
        return "The model is still loading."
    prediction = run_image(loaded.model, rgb, 1, occlusion, tensor)
    result = prediction.capture
    try:
        found = result.by_name(stage)
    except KeyError:
        return f"There is no stage {stage} in this model."
    if not sweepable(found):
        return (f"{stage} is a {found.kind} stage: it has no sliding window. Pick a conv or pool stage above "
                "(or click one in the strip or the graph).")
    channel = max(0, min(channel, int(found.output.shape[1]) - 1))
    try:
        sweep = conv_steps(result, stage, channel)
    except SweepError as exc:
        return str(exc)
    return SweepFrame(sweep, prediction.prepared.model_view, receptive_fields(result).get(stage), stamp)


class ConvolutionPanel(QWidget):
    def __init__(self, controller: Controller, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.caption = QLabel(CAPTION)
        self.caption.setWordWrap(True)
        self.stages = QComboBox()
        self.stages.setToolTip("The conv or pool stage whose window slides (selects it everywhere)")
        self.channel = QSpinBox()
        self.channel.setPrefix("channel ")
        self.channel.setToolTip("The output channel whose kernel slides (selects it everywhere)")
        self.play_button = QPushButton("Play")
        self.back_button = QPushButton("< Step")
        self.step_button = QPushButton("Step >")
        self.start_button = QPushButton("|< Start")
        self.speed = QSlider(Qt.Orientation.Horizontal)
        self.speed.setRange(0, 100)
        self.speed.setValue(20)
        self.speed.setToolTip("From one step a second (left) to the whole map in about a second (right)")
        self.speed_label = Readout("")
        bar = QHBoxLayout()
        for widget in (self.stages, self.channel, self.start_button, self.back_button, self.play_button,
                       self.step_button):
            bar.addWidget(widget)
        bar.addWidget(QLabel("speed"))
        bar.addWidget(self.speed, 1)
        bar.addWidget(self.speed_label)
        self.view = SweepView()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.caption)
        layout.addLayout(bar)
        layout.addWidget(self.view, 1)
        self.frame: SweepFrame | None = None
        self.index = 0
        self.sweeps_asked = 0  # sweep jobs sent (tests count work asked for)
        self._key: tuple | None = None  # (stage, channel) of the sweep shown: another one starts at step 0
        self._names: list[str] = []
        self._answered = False  # the worker said why this stage has no window
        self.timer = QTimer(self)
        self.timer.timeout.connect(self.advance)
        self.play_button.clicked.connect(self.toggle_play)
        self.step_button.clicked.connect(lambda: self.step(1))
        self.back_button.clicked.connect(lambda: self.step(-1))
        self.start_button.clicked.connect(self.rewind)
        self.speed.valueChanged.connect(self._speed_changed)
        self.stages.activated.connect(self._stage_picked)
        self.channel.valueChanged.connect(self._channel_picked)
        controller.state_changed.connect(self._state_changed)
        controller.details_ready.connect(self._details)
        controller.model_loaded.connect(self._model_loaded)
        self._speed_changed()

    # ---- speed and stepping (GUI side only) -----------------------------------------------
    @property
    def shown(self) -> bool:
        return self.controller.state.view == "convolution"

    @property
    def ready(self) -> bool:
        """A sweep (or the sentence why there is none) is on screen (``--screenshot`` waits for it)."""
        return self.frame is not None or self._answered

    def show_middle(self) -> None:
        """A position in the middle of the map (a still picture shows the map half filled in)."""
        if self.frame is not None:
            sweep = self.frame.sweep
            self.show_index((sweep.out_h // 2) * sweep.out_w + sweep.out_w // 2)

    @property
    def playing(self) -> bool:
        return self.timer.isActive()

    @property
    def rate(self) -> float:
        """Steps per second: 1 at the left of the slider, the whole output map per second at the right."""
        count = len(self.frame.sweep) if self.frame is not None else 1
        return max(1.0, count) ** (self.speed.value() / 100.0)

    @property
    def steps_per_tick(self) -> int:
        return max(1, round(self.rate * self.timer.interval() / 1000.0))

    def _speed_changed(self) -> None:
        rate = self.rate
        self.timer.setInterval(max(TICK_MS, round(1000.0 / rate)))
        self.speed_label.setText(f"{rate:.0f} steps/s" if rate < 100 else f"{rate:,.0f} steps/s")

    def toggle_play(self) -> None:
        if self.playing:
            self.timer.stop()
        elif self.frame is not None:
            if self.index >= len(self.frame.sweep) - 1:
                self.show_index(0)  # played to the end: from the start again
            self.timer.start()
        self.play_button.setText("Pause" if self.playing else "Play")

    def advance(self) -> None:
        """One timer tick: as many steps as the speed asks for; stops at the last position."""
        if self.frame is None:
            self.timer.stop()
            return
        last = len(self.frame.sweep) - 1
        self.show_index(min(last, self.index + self.steps_per_tick))
        if self.index >= last:
            self.timer.stop()
            self.play_button.setText("Play")

    def step(self, delta: int) -> None:
        if self.frame is not None:
            self.show_index(max(0, min(len(self.frame.sweep) - 1, self.index + delta)))

    def rewind(self) -> None:
        self.show_index(0)

    def show_index(self, index: int) -> None:
        self.index = index
        if self.frame is not None:
            self.view.show_step(self.frame.sweep.step(index))

    # ---- sweeps from the worker -----------------------------------------------------------
    def request(self) -> None:
        """The sweep of the current input, stage and channel, made on the worker."""
        state = self.controller.state
        rgb = self.controller.current_input()
        last = self.controller.last_frame
        stage = state.stage or (last.selected if last is not None else None)
        if rgb is None or stage is None:
            return
        stamp = last.stamp if last is not None else 0.0
        channel, occlusion, tensor = state.channel, state.occlusion, self.controller.current_tensor()
        self.sweeps_asked += 1

        def work(loaded: Loaded) -> SweepFrame | str:  # runs on the worker
            return make_sweep(loaded, rgb, stage, channel, occlusion, stamp, tensor)

        self.controller.run_job("convolution", work, self._arrived)  # type: ignore[arg-type]

    def _arrived(self, result: object) -> None:
        if isinstance(result, str):
            self.timer.stop()
            self.play_button.setText("Play")
            self.frame, self._key, self._answered = None, None, True
            self.view.set_frame(None, result)
            return
        assert isinstance(result, SweepFrame)
        key = (result.sweep.stage_name, result.sweep.channel)
        same = key == self._key
        self.frame, self._key = result, key
        self.view.set_frame(result)
        self._speed_changed()
        self.channel.blockSignals(True)
        self.channel.setValue(result.sweep.channel)
        self.channel.blockSignals(False)
        self.show_index(min(self.index, len(result.sweep) - 1) if same else 0)

    # ---- from the controller --------------------------------------------------------------
    def _state_changed(self, state: ViewState, old: ViewState) -> None:
        if not self.shown:
            if old.view == "convolution":
                self.timer.stop()  # nothing plays out of sight
                self.play_button.setText("Play")
            return
        if old.view != "convolution" or (state.stage, state.channel, state.occlusion) != (
                old.stage, old.channel, old.occlusion):
            self._sync_controls()
            self.request()
        if state.presenter != old.presenter:
            self.view.setMinimumSize(700 if state.presenter else 500, 500 if state.presenter else 380)

    def _details(self, result: FrameResult) -> None:
        """A new input (a few times a second): the same stage's window over it, where the window is."""
        names = [s.name for s in sweep_kinds(result.stages)]
        if names != self._names:
            self._names = names
            self.stages.blockSignals(True)
            self.stages.clear()
            self.stages.addItems(names)
            self.stages.blockSignals(False)
        if self.shown:
            self._sync_controls(result)
            self.request()

    def _model_loaded(self, _spec: ModelSpec, _description: str) -> None:
        self.timer.stop()
        self.play_button.setText("Play")
        self.frame, self._key = None, None
        self.view.set_frame(None, "Waiting for the first result of the new model...")

    def _sync_controls(self, result: FrameResult | None = None) -> None:
        result = result or self.controller.last_frame
        state = self.controller.state
        stage = state.stage or (result.selected if result is not None else None)
        self.stages.blockSignals(True)
        self.stages.setCurrentIndex(self._names.index(stage) if stage in self._names else -1)
        self.stages.blockSignals(False)
        channels = 1
        if result is not None and stage in {s.name for s in result.stages}:
            channels = max(1, result.info(stage).shape[0]) if result.info(stage).shape else 1
        self.channel.blockSignals(True)
        self.channel.setRange(0, channels - 1)
        self.channel.setValue(min(state.channel, channels - 1))
        self.channel.blockSignals(False)

    # ---- to the controller ----------------------------------------------------------------
    def _stage_picked(self, index: int) -> None:
        if 0 <= index < len(self._names):
            self.controller.select_stage(self._names[index])

    def _channel_picked(self, value: int) -> None:
        self.controller.select_channel(value)

