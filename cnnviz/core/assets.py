"""Where the shipped models, samples and icons live, installed or in a source checkout."""

from __future__ import annotations

from pathlib import Path


def assets_dir() -> Path:
    """The ``assets`` folder: installed as the package ``cnnviz.assets``, or at the top of a checkout."""
    installed = Path(__file__).resolve().parents[1] / "assets"
    if installed.is_dir():
        return installed
    return Path(__file__).resolve().parents[2] / "assets"


def models_dir() -> Path:
    return assets_dir() / "models"


def samples_dir() -> Path:
    return assets_dir() / "samples"
