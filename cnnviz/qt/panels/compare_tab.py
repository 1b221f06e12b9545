"""The Compare view's part: two inputs (one pinned as A), or the trained and the edited model, side by
side for the selected stage, following the input."""

from __future__ import annotations

import numpy as np
import torch
from PySide6.QtGui import QKeySequence, QShortcut

from cnnviz.core.teach.compare import compare
from cnnviz.qt.controller import Controller
from cnnviz.qt.main_window import MainWindow
from cnnviz.qt.state import ViewState
from cnnviz.qt.views.compare_view import CompareView
from cnnviz.qt.worker import Job


class CompareTab:
    def __init__(self, window: MainWindow, controller: Controller) -> None:
        self.controller = controller
        self.window = window
        self.pinned: np.ndarray | None = None
        self.pinned_tensor: torch.Tensor | None = None
        self.view = CompareView()
        window.add_view("compare", self.view, "Compare",
                        "Two inputs, or trained vs edited model, side by side per stage.")
        window.add_panel("comparison", self.view)
        controller.followers.add("compare", self._job)
        self.view.pin_requested.connect(self.pin_input)
        self.view.mode_changed.connect(lambda mode: controller.set_options(compare_mode=mode))
        controller.state_changed.connect(self._state_changed)
        QShortcut(QKeySequence("P"), window, self.pin_input)

    def pin_input(self) -> None:
        rgb = self.controller.current_input()
        if rgb is None:
            return
        self.pinned = rgb.copy()
        self.pinned_tensor = self.controller.current_tensor()  # (an exact adversarial input stays exact as A)
        self.window.status_label.setText("Input pinned as A; change the input to compare (Compare tab).")
        if self.controller.state.compare_mode != "inputs":
            self.controller.set_options(compare_mode="inputs")
        else:
            self.controller.follow(force=True)

    def _state_changed(self, state: ViewState, old: ViewState) -> None:
        if state.compare_mode != old.compare_mode and state.compare_mode != self.view.mode_name:
            self.view.set_mode(state.compare_mode)

    def _job(self, state: ViewState, rgb: np.ndarray) -> Job | None:
        mode = state.compare_mode
        if mode == "inputs" and self.pinned is None:
            self.view.title.setText("Pin an input as A first (button above, or P); then change the input.")
            return None
        current = self.controller.current_tensor()
        a, b = (self.pinned, rgb) if mode == "inputs" else (rgb, None)
        tensor_a, tensor_b = (self.pinned_tensor, current) if mode == "inputs" else (current, None)
        stage, cmap = state.stage, state.magnitude_map

        def work(loaded):  # noqa: ANN001, ANN202 - runs on the worker
            return compare(loaded.model, a, b, stage, loaded.surgeon if b is None else None, cmap,
                           tensor_a=tensor_a, tensor_b=tensor_b)

        return Job("compare", work, self.view.show_result)
