"""The guided tour: a caption per stage, stepped through with Page Down / Page Up, selecting each
stage in every view as it goes."""

from __future__ import annotations

from PySide6.QtGui import QKeySequence, QShortcut

from cnnviz.core.choices import STAGE_VIEWS
from cnnviz.core.teach.tour import TourStep, tour
from cnnviz.qt.classroom.presenter import Presenter
from cnnviz.qt.controller import Controller
from cnnviz.qt.main_window import MainWindow
from cnnviz.qt.views.tour_view import TourBar
from cnnviz.qt.worker import Loaded


class Tour:
    def __init__(self, window: MainWindow, controller: Controller, presenter: Presenter | None = None) -> None:
        self.window = window
        self.controller = controller
        self.presenter = presenter
        self.bar = TourBar()
        window.central_layout.insertWidget(1, self.bar)
        window.menu("&View").addAction("Guided tour", QKeySequence("T"), self.toggle)
        for key, slot in (("PgDown", self.bar.next), (".", self.bar.next), ("PgUp", self.bar.previous),
                          (",", self.bar.previous), ("Escape", self._escape)):
            QShortcut(QKeySequence(key), window, slot)
        self.bar.step_shown.connect(self._step)
        controller.model_loaded.connect(lambda _spec, _d: self.bar.stop())  # the steps described the last model
        self._start: str | None = None

    @property
    def active(self) -> bool:
        return self.bar.active

    def toggle(self, start_at: str | None = None) -> None:
        """Start the tour (at the stage ``start_at``, if given) or end it."""
        if self.bar.active:
            self.bar.stop()
            return
        self._start = start_at
        self.window.status_label.setText("preparing the tour...")

        def steps(loaded: Loaded) -> list[TourStep]:  # runs on the worker
            from cnnviz.core.models.zoo import spec_of

            assert loaded.model is not None
            spec = spec_of(loaded.model)
            return tour(loaded.model, spec.input_shape, len(spec.class_names))

        self.controller.run_job("tour", steps, self._ready)  # type: ignore[arg-type]

    def _ready(self, result: object) -> None:
        steps = list(result)  # type: ignore[call-overload]
        stages = [step.stage for step in steps]
        self.bar.start(steps, stages.index(self._start) if self._start in stages else 0)
        self._show_stages()

    def _show_stages(self) -> None:
        """The network view, unless a view that also follows the stage (the graph, the convolution) is shown."""
        if self.controller.state.view not in STAGE_VIEWS:
            self.controller.set_view("network")

    def _step(self, step: TourStep) -> None:
        self._show_stages()
        last = self.controller.last_frame
        if last is not None and step.stage in {s.name for s in last.stages}:
            self.controller.select_stage(step.stage)

    def _escape(self) -> None:
        if self.presenter is not None and self.presenter.active:
            self.presenter.toggle()
        elif self.bar.active:
            self.bar.stop()
