"""cnnviz: see inside a convolutional network while it works.

``load_model`` and ``capture`` are the Python API; both live in :mod:`cnnviz.core`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["__version__", "capture", "load_model"]

if TYPE_CHECKING:
    from cnnviz.core.engine.capture import capture
    from cnnviz.core.models.model_io import load_model


def __getattr__(name: str) -> Any:
    """Import torch only when the API is used, so `cnnviz --help` starts fast."""
    if name == "load_model":
        from cnnviz.core.models.model_io import load_model

        return load_model
    if name == "capture":
        from cnnviz.core.engine.capture import capture

        return capture
    raise AttributeError(f"module 'cnnviz' has no attribute {name!r}")
