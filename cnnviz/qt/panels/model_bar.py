"""The tool bar: which model, on which device, how many classes the bars show, and the colour scale."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from PySide6.QtWidgets import QCheckBox, QComboBox, QFileDialog, QLabel, QPushButton, QSpinBox, QToolBar, QWidget

from cnnviz.core.models.device import available_devices
from cnnviz.core.models.live import LIVE_PREFIX, is_live_name
from cnnviz.core.models.onnx_models import onnx_input_shape
from cnnviz.core.models.timm_models import TIMM_MODELS
from cnnviz.core.models.zoo import registry, weights_present
from cnnviz.qt.controller import Controller
from cnnviz.qt.panels.open_model_dialog import OpenModelDialog
from cnnviz.qt.state import ViewState

MODEL_FILTER = "Models (*.safetensors *.pt *.pth *.pt2 *.onnx *.py *.bin *.ckpt);;All files (*)"


class ModelBar(QToolBar):
    def __init__(self, controller: Controller, parent: QWidget | None = None) -> None:
        super().__init__("Model", parent)
        self.controller = controller
        self.dialog: OpenModelDialog | None = None  # the Open form last shown
        self.setMovable(False)
        state = controller.state
        self.model_box = QComboBox()
        self.model_box.setMinimumWidth(230)
        for name, spec in registry().items():
            if spec.weights is None:
                mark = " (untrained)"
            elif weights_present(spec):
                mark = " (trained)"
            else:
                mark = " (weights not here)"
            self.model_box.addItem(name + mark, name)
        if importlib.util.find_spec("timm") is not None:  # (found, not imported: timm loads when one is chosen)
            for name in TIMM_MODELS:
                self.model_box.addItem(name + " (timm)", name)
        self.model_box.activated.connect(lambda _i: controller.load_model(self.model_box.currentData()))
        self.model_box.setToolTip("The network to look inside; untrained ones have random weights.")
        open_model = QPushButton("Open model file...")
        open_model.setToolTip("Open your own network: weights (.safetensors, .pt, .pth), a whole saved model, "
                              "torch.export (.pt2), ONNX (.onnx) or its Python code (.py). Ctrl+Shift+O")
        open_model.clicked.connect(self.open_model_dialog)
        self.device_box = QComboBox()
        self.device_box.addItems(["auto", *available_devices()])
        self.device_box.activated.connect(lambda _i: controller.set_device(self.device_box.currentText()))
        self.device_box.setToolTip("Where the forward pass runs; switching reloads the model there.")
        self.top_k = QSpinBox()
        self.top_k.setRange(1, 20)
        self.top_k.setValue(state.top_k)
        self.top_k.setToolTip("How many classes the softmax bars show.")
        self.top_k.valueChanged.connect(lambda v: controller.set_options(top_k=v))
        self.per_channel = QCheckBox("per-channel scale")
        self.per_channel.setChecked(state.per_channel)
        self.per_channel.setToolTip("Scale each channel's colours to its own range (on) or share one range (off).")
        self.per_channel.toggled.connect(lambda on: controller.set_options(per_channel=on))
        for widget in (QLabel(" Model "), self.model_box, open_model, QLabel("  Device "), self.device_box,
                       QLabel("  Top-k "), self.top_k, QLabel("  "), self.per_channel):
            self.addWidget(widget)
        self._show(state)
        controller.state_changed.connect(self._state_changed)

    def _state_changed(self, state: ViewState, old: ViewState) -> None:
        shown = ("model", "device", "top_k", "per_channel")
        if any(getattr(state, name) != getattr(old, name) for name in shown):
            self._show(state)

    def open_model_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open model", "", MODEL_FILTER)
        if path:
            self.ask_about(path)

    def ask_about(self, path: str) -> OpenModelDialog:
        """The Open form for ``path`` (shown, not waited for); its answers load the model when accepted."""
        path = str(Path(path).resolve())
        dialog = self.dialog = OpenModelDialog(path, self.controller.settings.model_options(path), self.window())
        dialog.accepted.connect(self._form_accepted)
        dialog.open()
        if Path(path).suffix.lower() == ".onnx":  # (an ONNX file is data: its graph can be read before any trust)
            def stated(shape: object) -> None:
                if self.dialog is dialog and dialog.isVisible():
                    dialog.show_stated_shape(shape)  # type: ignore[arg-type]

            self.controller.run_job("stated-shape", lambda _loaded: onnx_input_shape(Path(path)), stated)
        return dialog

    def _form_accepted(self) -> None:
        dialog = self.dialog
        if dialog is None:
            return
        self.controller.settings.set_model_options(dialog.path, dialog.remembered())
        self.controller.load_model(dialog.result_ref, options=dialog.result_options)

    def _show(self, state: ViewState) -> None:
        """Draw the state (a session, a fallback or the controller may have changed it)."""
        index = self.model_box.findData(state.model)
        if index < 0:
            if is_live_name(state.model):
                label = f"{state.model.removeprefix(LIVE_PREFIX)} (from Python)"
            else:
                label = f"{Path(state.model).name} ({'code' if '.py:' in state.model else 'file'})"
            self.model_box.addItem(label, state.model)
            index = self.model_box.count() - 1
        self.model_box.setCurrentIndex(index)
        if self.device_box.findText(state.device) >= 0:
            self.device_box.setCurrentText(state.device)
        for widget, set_value in ((self.top_k, lambda: self.top_k.setValue(state.top_k)),
                                  (self.per_channel, lambda: self.per_channel.setChecked(state.per_channel))):
            widget.blockSignals(True)
            set_value()
            widget.blockSignals(False)
