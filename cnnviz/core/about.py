"""What is running: versions and the device, for ``cnnviz --version`` and the About box."""

from __future__ import annotations

from importlib import metadata

import torch

from cnnviz import __version__
from cnnviz.core.models.device import describe_device, resolve_device


def _package_version(*names: str) -> str:
    for name in names:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return "unknown"


def _torchvision_version() -> str:
    from cnnviz.core.torchvision_import import import_torchvision

    torchvision = import_torchvision()

    return getattr(torchvision, "__version__", None) or _package_version("torchvision")


def version_lines(device: str | torch.device = "auto") -> list[str]:
    """Read from package metadata, so that asking never imports Qt."""
    if torch.cuda.is_available():
        cuda = f"CUDA {torch.version.cuda} available ({torch.cuda.get_device_name(0)})"
    else:
        cuda = "CUDA not available" + (f" (torch built for CUDA {torch.version.cuda})" if torch.version.cuda else "")
    return [
        f"cnnviz {__version__}",
        f"torch {torch.__version__}, torchvision {_torchvision_version()}, {cuda}",
        f"Qt: PySide6 {_package_version('PySide6-Essentials', 'PySide6')}, pyqtgraph {_package_version('pyqtgraph')}",
        f"device in use: {describe_device(resolve_device(device))}",
    ]
