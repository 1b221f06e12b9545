"""Importing torchvision without importing ``torch._dynamo`` with it.

torchvision 0.29's ``torchvision/ops/roi_align.py`` runs ``from torch._dynamo.utils import
is_compile_supported`` at import time, and ``import torchvision`` always imports ``torchvision.ops``.
That one line imports all of TorchDynamo, Inductor and SymPy: 1.2-1.5 s of the ~3 s that
``cnnviz render --model resnet18`` spent importing on the 2-core development VM, for a helper that
only roi_align calls, and only on its deterministic fallback path. (torchvision wraps that fallback
in a ``lazy_compile`` written precisely "to avoid eagerly importing dynamo"; the later import
undid it.)

:func:`import_torchvision` stands a small module in for ``torch._dynamo.utils`` while torchvision's
modules run, whose ``is_compile_supported`` imports the real one on its first call, and takes the
stand-in out again at once; anything that imports ``torch._dynamo`` afterwards gets the real package.
If a later torchvision asks for more from ``torch._dynamo.utils``, the stand-in hands over to the real
module at that point (the old cost; nothing breaks). Remove this module once torchvision imports the
helper lazily.
"""

from __future__ import annotations

import sys
import threading
import types

_DYNAMO_UTILS = "torch._dynamo.utils"
_lock = threading.Lock()


def _is_compile_supported(device_type: str) -> bool:
    """torch._dynamo.utils.is_compile_supported, imported on first use."""
    from torch._dynamo.utils import is_compile_supported

    return is_compile_supported(device_type)


def _real_utils() -> types.ModuleType:
    """Swap the stand-in for the real torch._dynamo.utils (imports TorchDynamo) and return it."""
    if sys.modules.get(_DYNAMO_UTILS) is not None and getattr(sys.modules[_DYNAMO_UTILS], "_cnnviz_stand_in", False):
        del sys.modules[_DYNAMO_UTILS]
    import torch._dynamo.utils

    return torch._dynamo.utils


def _stand_in() -> types.ModuleType:
    module = types.ModuleType(_DYNAMO_UTILS, "cnnviz's stand-in while torchvision imports; see "
                              "cnnviz.core.torchvision_import")
    module._cnnviz_stand_in = True  # type: ignore[attr-defined]
    module.is_compile_supported = _is_compile_supported  # type: ignore[attr-defined]
    module.__getattr__ = _other_name  # type: ignore[method-assign]  # PEP 562: a module-level __getattr__
    return module


def _other_name(name: str) -> object:
    """A name torchvision may want one day comes from the real module, at the old price. Dunder names
    do not: ``inspect.getmodule`` asks every module in ``sys.modules`` for ``__file__`` while
    torch registers operators, and must not import TorchDynamo by asking."""
    if name.startswith("__"):
        raise AttributeError(name)
    return getattr(_real_utils(), name)


def import_torchvision() -> types.ModuleType:
    """``import torchvision``, without TorchDynamo when nothing has imported it yet."""
    if "torchvision" in sys.modules:
        return sys.modules["torchvision"]
    with _lock:
        if "torchvision" not in sys.modules and "torch._dynamo" not in sys.modules:
            stand_in = _stand_in()
            sys.modules[_DYNAMO_UTILS] = stand_in
            try:
                import torchvision
            finally:
                if sys.modules.get(_DYNAMO_UTILS) is stand_in:
                    del sys.modules[_DYNAMO_UTILS]
        import torchvision

        return torchvision
