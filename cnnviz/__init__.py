"""cnnviz: see inside a convolutional network while it works.

``load_model`` and ``capture`` are the Python API of :mod:`cnnviz.core`; ``view`` opens the app's
window on a network in this Python session (:mod:`cnnviz.qt.viewer`).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["__version__", "capture", "load_model", "view"]

if TYPE_CHECKING:
    from cnnviz.core.engine.capture import capture
    from cnnviz.core.models.model_io import load_model
    # (view is left out here: mypy, checking core, would follow it into the whole of cnnviz.qt)


def __getattr__(name: str) -> Any:
    """Import torch only when the API is used, so `cnnviz --help` starts fast."""
    if name == "load_model":
        from cnnviz.core.models.model_io import load_model

        return load_model
    if name == "capture":
        from cnnviz.core.engine.capture import capture

        return capture
    if name == "view":
        # Qt is loaded only here. By name, so that the import tools do not read a dependency of every module
        # that imports the package (core.about imports __version__) on the whole GUI layer.
        return importlib.import_module("cnnviz.qt.viewer").view
    raise AttributeError(f"module 'cnnviz' has no attribute {name!r}")
