"""The controller's model loading: which model and device are asked for, what a loaded model changes,
and what happens when one cannot load (the last good model stays; at start the default opens; missing
ImageNet weights become a choice in the window). A part of :class:`cnnviz.qt.controller.Controller`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from torch import nn

from cnnviz.core.models.live import is_live_name, live_name
from cnnviz.core.models.options import ModelOptions
from cnnviz.core.models.zoo import ModelSpec, registry
from cnnviz.qt.worker import LoadRequest

if TYPE_CHECKING:
    from cnnviz.qt.controller import Controller

DEFAULT_MODEL = "lenet5-mnist"


class ModelLoading:
    """Mixed into the Controller (it shares the controller's state, signals and worker)."""

    def load_model(self: Controller, name: str, trust: bool = False, untrained: bool | None = None,
                   device: str | None = None, options: ModelOptions | None = None) -> None:
        """Load ``name`` (a zoo name, a file, FILE.py:NAME) with ``options`` for a user's network (None: the
        current ones when ``name`` is the model already shown, none for another). ``trust`` is the user's
        consent to run the file's code; it holds for that file for the rest of the run (asked once)."""
        state = self._state
        if untrained is None:
            family = registry()[name].family if name in registry() else ""
            # random weights are a choice for ImageNet families only
            untrained = state.untrained if (name == state.model or family == "imagenet") else False
        if options is None:
            options = state.model_options if name == state.model else ModelOptions()
        if trust:
            self.trusted.add(name)
        self._set(model=name, untrained=untrained, device=device or state.device, model_options=options)
        self._load()

    def load_live(self: Controller, model: nn.Module, **spec_args: object) -> None:
        """Show ``model``, a copy of the caller's (cnnviz.core.models.live); ``spec_args`` (input shape, class
        names, mean, std) make it ready on the worker, where its spec's forward pass runs."""
        self._live, self._live_args = model, tuple(spec_args.items())
        self._set(model=live_name(model), untrained=False, model_options=ModelOptions())
        self._load()

    def set_device(self: Controller, device: str) -> None:
        self.load_model(self._state.model, device=device)

    def _load(self: Controller) -> None:
        state = self._state
        live = self._live if is_live_name(state.model) else None
        self.worker.submit(LoadRequest(state.model, state.device, state.untrained, state.model in self.trusted,
                                       state.model_options, live=live, live_args=self._live_args))

    def _model_loaded(self: Controller, spec: ModelSpec, description: str, device: str) -> None:
        if not self._keep_error:
            self.cleared.emit()
        self._keep_error = False
        self._remembered = False
        self.spec = spec
        self.device_in_use = device
        self.gate.reset(device.startswith("cpu"))
        state = self._state
        if state.model in registry():
            self.settings.model = state.model
            self.settings.untrained = state.untrained
        self.settings.device = state.device
        notes = spec.notes
        self.status.emit(f"{description} loaded" + (f" | {notes[0]}" if notes else ""))
        self.model_loaded.emit(spec, description)
        self.refresh(detail=True)  # a new model: every view at once

    def _load_failed(self: Controller, name: str, message: str, weights: bool = False) -> None:
        """The last good model stays; with none yet (at start), the default opens. Missing ImageNet
        weights are offered as choices in the window (``weights_missing``), not as an error."""
        fallback = self.spec is None and name != DEFAULT_MODEL and (weights or self._remembered)
        if fallback:
            self._remembered, self._keep_error = False, True
            self.load_model(DEFAULT_MODEL)
        elif self.spec is not None and name != self.spec.name:
            self._set(model=self.spec.name)  # the previous model is still the one on the worker
        if weights:
            self.weights_missing.emit(name, message)
        else:
            self.error.emit(f"{message} Opened {DEFAULT_MODEL} instead." if fallback else message)

    def _weights_missing(self: Controller, name: str, message: str) -> None:
        self._load_failed(name, message, weights=True)

    def _fell_back(self: Controller, device: str) -> None:
        self._keep_error = True
        self.device_in_use = device
        self.gate.reset(device.startswith("cpu"))
        self._set(device=device)

    def _edited(self: Controller, edited: bool) -> None:
        self.edited = edited
        self.edited_changed.emit(edited)
        self.refresh()
