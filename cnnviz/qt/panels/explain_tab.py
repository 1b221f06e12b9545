"""The Explain view's part: Grad-CAM, HiResCAM and saliency that follow the input, and the occlusion
explorer's grey patch on the input view."""

from __future__ import annotations

import numpy as np

from cnnviz.core.engine.frame import FrameResult
from cnnviz.core.models.zoo import ModelSpec
from cnnviz.core.teach.explain import explain
from cnnviz.qt.controller import Controller
from cnnviz.qt.main_window import MainWindow
from cnnviz.qt.state import ExplainOptions, ViewState
from cnnviz.qt.views.explain_view import ExplainPanel
from cnnviz.qt.views.input_view import InputView
from cnnviz.qt.worker import Job


class ExplainTab:
    def __init__(self, window: MainWindow, controller: Controller, input_view: InputView) -> None:
        self.controller = controller
        self.view = ExplainPanel()
        window.add_view("explain", self.view, "Explain", "Grad-CAM, HiResCAM and saliency over the input; occlusion.")
        window.add_panel("explanation", self.view)
        controller.followers.add("explain", self._job)
        self.view.options_changed.connect(self._options)
        self.view.occlusion_toggled.connect(lambda on: input_view.set_occlusion(on, self.view.patch.value()))
        self.view.occlusion_size_changed.connect(
            lambda size: input_view.set_occlusion(input_view.occlusion is not None, size))
        controller.frame_ready.connect(self._frame)
        controller.model_loaded.connect(self._model)
        controller.state_changed.connect(self._state_changed)

    def _options(self) -> None:
        view = self.view
        self.controller.set_options(explain=ExplainOptions(view.method_name, view.target_index, view.layer_name))

    def _state_changed(self, state: ViewState, old: ViewState) -> None:
        if state.view == "explain" and old.view != "explain" and self.controller.last_frame is not None:
            self._frame(self.controller.last_frame)
        if state.explain.method != old.explain.method and state.explain.method != self.view.method_name:
            self.view.set_method(state.explain.method)

    def _job(self, state: ViewState, rgb: np.ndarray) -> Job:
        options = state.explain
        tensor = self.controller.current_tensor()  # (the Attack view's exact input, not its picture prepared again)

        def work(loaded):  # noqa: ANN001, ANN202 - runs on the worker
            return explain(loaded.model, rgb, options.method, options.target, options.layer, "magma", tensor=tensor)

        return Job("explain", work, self.view.show_explanation)

    def _frame(self, result: FrameResult) -> None:
        """Keep the layer list in step with the model on screen (while the view is shown)."""
        if self.controller.state.view != "explain":
            return
        spatial = tuple(s.name for s in result.stages if len(s.shape) == 3 and s.shape[1] * s.shape[2] > 1)
        self.view.set_layers(spatial)

    def _model(self, spec: ModelSpec, _description: str) -> None:
        self.view.set_classes(tuple(spec.class_names))
