"""``cnnviz.view(model)``: the app's window on a network that lives in the caller's Python session.

As ``napari.view_image`` does: in a plain script the call blocks until the window is closed (unless
``block=False``); in IPython or Jupyter with Qt's event loop running (``%gui qt``) it returns at once,
and the window stays live while the session goes on. The window works on copies of the model
(cnnviz.core.models.live), so the caller's module, weights and training state are never changed.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication
from torch import nn

from cnnviz.core.data.imageio import read_image, to_rgb_uint8
from cnnviz.core.errors import CnnvizError, ImageError
from cnnviz.core.models.live import copy_for_viewing, live_model
from cnnviz.qt.app import App, build_app, quiet_offscreen
from cnnviz.qt.settings import Settings


class Viewer:
    """The window on a live model: give it inputs and newer weights, take screenshots, close it."""

    def __init__(self, app: App, spec_args: dict[str, object]) -> None:
        self.app = app
        self._spec_args = spec_args  # input shape, class names, mean and std for every set_model

    @property
    def window(self):  # noqa: ANN201 - (the MainWindow; typed loosely so the API needs no Qt types)
        return self.app.window

    def set_input(self, image: object) -> None:
        """Show ``image``: a path, an (H, W) or (H, W, 3) array (uint8, or float in [0, 1]), or a tensor
        (C, H, W) / (1, C, H, W) with values in [0, 1]."""
        self.app.controller.use_image(_as_rgb(image))

    def set_model(self, model: nn.Module) -> None:
        """Show ``model`` from now on: a copy of it is taken now, so training may go on with the original
        (call this every few hundred steps to watch the filters form); the rest happens on the worker, and
        a model that cannot be shown leaves a message in the window and the previous one on screen."""
        self.app.controller.load_live(copy_for_viewing(model), **self._spec_args)

    def screenshot(self, path: str | Path, timeout: float = 60.0) -> Path:
        """Save the window as PNG once the current input's result has been painted."""
        qt_app = QApplication.instance()
        assert qt_app is not None
        controller = self.app.controller
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            qt_app.processEvents()
            frame = controller.last_frame
            painted = frame is not None and frame.stamp >= controller.input_changed_at and frame.detail
            if painted and controller.spec is not None and controller.is_idle() and not self.window.busy.isVisible():
                break
            controller.join(0.02)
        else:
            raise CnnvizError(f"no result was shown within {timeout:.0f} s: {self.window.banner.text() or 'busy'}")
        qt_app.processEvents()
        target = Path(path)
        if not self.window.grab().save(str(target)):
            raise CnnvizError(f"could not write the screenshot {target}")
        return target

    def close(self) -> None:
        self.window.close()
        self.app.shutdown()
        QApplication.sendPostedEvents(None, 0)


def view(model: nn.Module, image: object = None, *, input_shape: tuple[int, int, int] | None = None,
         class_names: Sequence[str] | None = None, mean: Sequence[float] | None = None,
         std: Sequence[float] | None = None, block: bool | None = None, settings: Settings | None = None) -> Viewer:
    """Open the app on ``model`` (an ``nn.Module`` in this session) with ``image`` as its input.

    ``block`` None: block until the window closes unless an interactive Qt event loop is running
    (IPython / Jupyter after ``%gui qt``). ``settings`` None keeps the app's remembered settings apart
    from the desktop app's (a notebook should not change what the app opens next)."""
    qt_app = QApplication.instance() or QApplication(sys.argv[:1])
    quiet_offscreen()
    spec_args: dict[str, object] = {"input_shape": input_shape, "class_names": class_names, "mean": mean, "std": std}
    ready = live_model(model, **spec_args)  # type: ignore[arg-type]
    if settings is None:
        import tempfile

        folder = tempfile.mkdtemp(prefix="cnnviz-view-")
        settings = Settings(QSettings(str(Path(folder) / "settings.ini"), QSettings.Format.IniFormat))
    app = build_app(live=ready, settings=settings, autosave_on=False)
    viewer = Viewer(app, spec_args)
    if image is not None:
        viewer.set_input(image)
    else:
        if ready.cnnviz_spec.channels == 1:
            app.inputs.draw_demo(7)  # (a digit model gets a digit to look at)
    app.window.show()
    if block is None:
        block = not _interactive_loop()
    if block:
        qt_app.exec()
        app.shutdown()
    return viewer


def _interactive_loop() -> bool:
    """IPython with Qt's event loop integrated (``%gui qt``): the window lives while the session goes on."""
    shell = sys.modules.get("IPython")
    if shell is None:
        return False
    ipython = shell.get_ipython() if hasattr(shell, "get_ipython") else None
    return ipython is not None and str(getattr(ipython, "active_eventloop", "") or "").startswith("qt")


def _as_rgb(image: object) -> np.ndarray:
    if isinstance(image, str | Path):
        return read_image(image).rgb
    if isinstance(image, torch.Tensor):
        tensor = image.detach().cpu().float()
        if tensor.dim() == 4 and tensor.shape[0] == 1:
            tensor = tensor[0]
        if tensor.dim() != 3 or tensor.shape[0] not in (1, 3):
            raise ImageError(f"a tensor input is (C, H, W) with 1 or 3 channels, not {tuple(image.shape)}.")
        array = tensor.clamp(0, 1).permute(1, 2, 0).numpy()
        return to_rgb_uint8((array * 255 + 0.5).astype(np.uint8))
    if isinstance(image, np.ndarray):
        array = image
        if array.dtype != np.uint8:
            array = (np.clip(array.astype(np.float32), 0.0, 1.0) * 255 + 0.5).astype(np.uint8)
        return to_rgb_uint8(array)
    raise ImageError(f"set_input takes a path, an array or a tensor, not a {type(image).__name__}.")
