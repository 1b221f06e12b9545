"""The "what it looks for" panel: for the selected channel, the input optimised to excite it, its top-9
dataset patches with their values and classes, and where the current input sits on that scale.

The work (gradient ascent, the dataset scan) runs as a job on the worker through the controller, only
while the panel is on screen, and its caches (per weights version in memory, on disk for scans) make
coming back instant; a kernel edit, another dataset or another model makes what is shown stale and it is
asked for again. For models with large inputs the work waits for a click (it would hold the worker, and
so the live view, for a long time on a CPU).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import cast

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeySequence, QShowEvent
from PySide6.QtWidgets import (
    QDockWidget,
    QGridLayout,
    QLabel,
    QMainWindow,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from cnnviz.core.data.datasets import ArrayDataset
from cnnviz.core.engine.frame import FrameResult
from cnnviz.core.models.zoo import ModelSpec
from cnnviz.core.teach.exemplars import default_cache_dir
from cnnviz.core.teach.features import FeatureSettings
from cnnviz.core.teach.looks_for import ChannelStudy, stage_grid, study_channel
from cnnviz.core.teach.study_common import Cancelled
from cnnviz.qt.controller import Controller
from cnnviz.qt.images import bold_font, to_pixmap
from cnnviz.qt.state import ViewState
from cnnviz.qt.worker import Loaded

#: Inputs up to this many values are studied as soon as a channel is selected (28x28 digits: ~0.3 s on one
#: core); larger ones (ImageNet's 3x224x224) wait for "Compute".
AUTO_VALUES = 3 * 64 * 64
TILES = 9
FEATURE_PX = 140
TILE_PX = 60
SETTINGS = FeatureSettings(steps=128)
SHOWN_KEY = "looks_for/shown"  # whether the dock was open when the app last ran


@dataclass(frozen=True)
class _Ask:
    """What the panel wants shown; a result for any other ask is stale and dropped."""

    generation: int
    stage: str
    channel: int


class LooksForPanel(QWidget):
    progressed = Signal(int, int)  # emitted on the worker thread by the job; queued to the GUI thread

    def __init__(self, controller: Controller, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.study: ChannelStudy | None = None  # what is shown
        self.studies_asked = 0  # jobs sent (tests count work asked for, never time)
        self.grid_shown = False
        self._generation = 0  # moves on with every change; a running job whose ask is older stops
        self._ask: _Ask | None = None
        self._data: ArrayDataset | None = None
        self._spec: ModelSpec | None = None
        self._last_max: float | None = None
        self._closing = False
        self.title = QLabel("Select a channel (click a map) to see what it looks for.")
        self.title.setFont(bold_font())
        self.title.setWordWrap(True)
        self.feature = QLabel()
        self.feature.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.feature.setMinimumSize(FEATURE_PX, FEATURE_PX)
        self.feature_caption = QLabel("")
        self.feature_caption.setWordWrap(True)
        self.whole = QPushButton("Whole stage")
        self.whole.setCheckable(True)
        self.whole.setToolTip("The optimised input of every channel of this stage, in one grid")
        self.whole.toggled.connect(self._whole_toggled)
        self.compute = QPushButton("Compute")
        self.compute.setToolTip("Optimise the input and scan the dataset (slow for a large model on a CPU)")
        self.compute.clicked.connect(self.request)
        self.compute.hide()
        self.exemplars_title = QLabel("")
        grid = QGridLayout()
        self.tiles: list[QLabel] = []
        self.captions: list[QLabel] = []
        for n in range(TILES):
            tile, caption = QLabel(), QLabel("")
            tile.setFixedSize(TILE_PX, TILE_PX)
            tile.setAlignment(Qt.AlignmentFlag.AlignCenter)
            caption.setAlignment(Qt.AlignmentFlag.AlignCenter)
            grid.addWidget(tile, 2 * (n // 3), n % 3)
            grid.addWidget(caption, 2 * (n // 3) + 1, n % 3)
            self.tiles.append(tile)
            self.captions.append(caption)
        self.rank = QLabel("")
        self.rank.setWordWrap(True)
        self.progress = QProgressBar()
        self.progress.setRange(0, 100)
        self.progress.hide()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        for widget in (self.title, self.feature, self.feature_caption, self.whole, self.compute, self.progress,
                       self.exemplars_title):
            layout.addWidget(widget)
        layout.addLayout(grid)
        layout.addWidget(self.rank)
        layout.addStretch(1)
        self.progressed.connect(self._progressed)
        controller.state_changed.connect(self._state_changed)
        controller.model_loaded.connect(self._model_loaded)
        controller.edited_changed.connect(self._edited)
        controller.dataset_loaded.connect(self._dataset_loaded)
        controller.frame_shown.connect(self._frame_shown)

    # ---- what is asked for -----------------------------------------------------------------
    @property
    def stage(self) -> str | None:
        last = self.controller.last_frame
        return self.controller.state.stage or (last.selected if last is not None else None)

    @property
    def channel(self) -> int:
        """The selected channel, clamped to the stage's channels as the frame clamps it (a channel chosen on
        a wider stage stays in the state when a narrower one is selected)."""
        channel, last, stage = self.controller.state.channel, self.controller.last_frame, self.stage
        info = next((s for s in last.stages if s.name == stage), None) if last is not None else None
        if info is not None and info.shape:
            channel = min(channel, info.shape[0] - 1)
        return max(0, channel)

    @property
    def ready(self) -> bool:
        """What is shown answers the current question (``--screenshot`` waits for it), or the question waits
        for a "Compute" click (a large model)."""
        ask, study = self._ask, self.study
        if not self.automatic:
            return True
        return ask is not None and study is not None and (study.stage, study.channel) == (ask.stage, ask.channel) \
            and not self.progress.isVisible()

    def remember(self, shown: bool) -> None:
        """The dock opened or closed (not: the window closing, which hides it too)."""
        if not self._closing:
            self.controller.settings.q.setValue(SHOWN_KEY, "true" if shown else "false")

    def window_closing(self) -> None:
        self._closing = True

    @property
    def automatic(self) -> bool:
        return self._spec is not None and math.prod(self._spec.input_shape) <= AUTO_VALUES

    def invalidate(self) -> None:
        """What is shown no longer answers the question (an edit, a new dataset, model or channel)."""
        self._generation += 1
        self._ask = None
        self._maybe_request()

    def _maybe_request(self) -> None:
        if self._ask is not None or not self.isVisible() or self._spec is None:
            return
        if self.automatic:
            self.request()
        elif self.stage is not None:
            self.compute.show()
            self.title.setText(f"{self.stage} channel {self.channel}: Compute optimises its "
                               f"input and scans the dataset (slow for this model on a CPU).")

    def request(self) -> None:
        """Study the selected channel on the worker (and the whole stage's grid when it is shown)."""
        stage, data = self.stage, self._data
        if stage is None or data is None:
            return
        self.compute.hide()
        self._ask = ask = _Ask(self._generation, stage, self.channel)
        self.studies_asked += 1
        self.progress.setValue(0)
        self.progress.show()
        self.title.setText(f"{stage} channel {ask.channel}: looking for what excites it...")
        cache = default_cache_dir()

        def work(loaded: Loaded) -> tuple[_Ask, ChannelStudy | None, object]:
            if loaded.model is None:
                return ask, None, None
            try:
                study = study_channel(loaded.model, data, ask.stage, ask.channel, TILES, SETTINGS, cache,
                                      self._report, lambda: self._generation != ask.generation)
                grid = stage_grid(loaded.model, ask.stage, SETTINGS) if self.grid_shown else None
            except Cancelled:
                return ask, None, None
            return ask, study, grid

        self.controller.run_job("looks-for", work, self._ready, self._failed)

    def _report(self, done: int, total: int) -> None:  # (on the worker thread)
        try:
            self.progressed.emit(done, total)
        except RuntimeError:  # the panel is gone (the app is closing)
            pass

    # ---- results (GUI thread) --------------------------------------------------------------
    def _ready(self, result: object) -> None:
        ask, study, grid = cast(tuple[_Ask, ChannelStudy | None, object], result)
        if ask != self._ask:
            return  # an older question's answer
        self.progress.hide()
        if study is None:  # no model on the worker yet: its model_loaded asks again
            return
        self.study = study
        self._show(study, grid)

    def _failed(self, _message: str) -> None:
        self.progress.hide()  # (the ask stays: not asked again until something changes)
        self.title.setText("This stage cannot be studied (the message above says why).")

    def _progressed(self, done: int, total: int) -> None:
        self.progress.setValue(int(100 * done / max(1, total)))

    def _show(self, study: ChannelStudy, grid: object) -> None:
        self.title.setText(f"What {study.stage} channel {study.channel} looks for")
        picture = grid if self.grid_shown and grid is not None else study.feature
        self.feature.setPixmap(to_pixmap(picture, FEATURE_PX * (2 if picture is grid else 1)))  # type: ignore[arg-type]
        self.feature_caption.setText(f"the input optimised to excite it (mean activation {study.activation:.3g})"
                                     if picture is study.feature else "every channel of the stage, in order")
        self.exemplars_title.setText(f"its top {len(study.exemplars)} of {study.n} in {study.dataset}:")
        for n, (tile, caption) in enumerate(zip(self.tiles, self.captions, strict=True)):
            if n < len(study.patches):
                tile.setPixmap(to_pixmap(study.patches[n], TILE_PX))
                exemplar = study.exemplars[n]
                caption.setText(f"{study.label(exemplar)} · {exemplar.value:.3g}")
                tile.setToolTip(f"sample {exemplar.index}, box {list(exemplar.box)}")
            else:
                tile.clear()
                caption.setText("")
        self._read_max(self.controller.last_frame)
        self._show_rank()

    def _show_rank(self) -> None:
        study, value = self.study, self._last_max
        if study is None or value is None:
            self.rank.setText("")
            return
        percent = study.percent(value)
        self.rank.setText(f"this input excites channel {study.channel} at {percent:.0f} % of its best dataset "
                          f"sample" if percent is not None else "the channel never fires on the dataset")

    # ---- from the controller ----------------------------------------------------------------
    def _state_changed(self, state: ViewState, old: ViewState) -> None:
        if (state.stage, state.channel, state.model) != (old.stage, old.channel, old.model):
            self.invalidate()

    def _model_loaded(self, spec: ModelSpec, _description: str) -> None:
        self._spec = spec
        self.study = None
        self.invalidate()

    def _edited(self, _edited: bool) -> None:
        self.invalidate()

    def _dataset_loaded(self, data: ArrayDataset) -> None:
        self._data = data
        self.invalidate()

    def _frame_shown(self, result: FrameResult) -> None:
        """The current input's place on the scale, on frames that carry the details (reading the stage's
        values copies them to the host)."""
        if not self.isVisible():
            return
        if self.study is not None and result.detail:
            self._read_max(result)
            self._show_rank()
        self._maybe_request()

    def _read_max(self, result: FrameResult | None) -> None:
        """The channel's maximum on the input of ``result`` (None unless it shows the study's stage)."""
        study, self._last_max = self.study, None
        if study is None or result is None or result.hover is None or result.selected != study.stage:
            return
        values = result.hover.values
        if values.ndim >= 1 and 0 <= study.channel < values.shape[0]:
            self._last_max = float(values[study.channel].max())

    def _whole_toggled(self, on: bool) -> None:
        self.grid_shown = on
        self.invalidate()

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 - Qt's name
        super().showEvent(event)
        self._maybe_request()


def add_dock(window: QMainWindow, controller: Controller) -> LooksForPanel:
    """The panel in a dock beside the views, named for Export. It starts hidden the first time (View > What
    it looks for, or Ctrl+L, shows it; the app remembers): while it is shown every channel or stage change
    costs the one worker a job, and the live view waits for it."""
    panel = LooksForPanel(controller)
    dock = QDockWidget("What it looks for", window)
    dock.setObjectName("looks-for")
    dock.setWidget(panel)
    window.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, dock)
    dock.setVisible(str(controller.settings.q.value(SHOWN_KEY, "false")).lower() == "true")
    action = dock.toggleViewAction()
    action.setShortcut(QKeySequence("Ctrl+L"))
    action.setToolTip("The selected channel's optimised input and its best dataset patches")
    action.toggled.connect(panel.remember)
    window.closing.connect(panel.window_closing)  # type: ignore[attr-defined]
    window.menu("&View").addAction(action)  # type: ignore[attr-defined]
    window.add_panel("what it looks for", panel)  # type: ignore[attr-defined]
    return panel
