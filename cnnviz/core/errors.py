"""Typed errors whose message is one sentence a user can act on.

The CLI prints ``cnnviz: error: <message>`` and exits 2; the GUI shows the message and
keeps its last good state. Nothing here should ever need a traceback to be understood.
"""

from __future__ import annotations


class CnnvizError(Exception):
    """Base class: ``str(err)`` is the sentence shown to the user."""


class DeviceError(CnnvizError):
    """A requested device (cuda:3, mps, ...) is not present on this machine."""


class ModelError(CnnvizError):
    """A model name is unknown, or a model file cannot be loaded safely."""


class UntrustedFileError(ModelError):
    """A model file holds code (pickled objects, TorchScript) and was not marked as trusted."""


class WeightsUnavailableError(ModelError):
    """Pretrained weights are neither cached nor downloadable (offline)."""


class ImageError(CnnvizError):
    """An image file is missing, unreadable, truncated or too large."""


class DatasetError(CnnvizError):
    """A dataset root or file is missing or malformed."""


class KernelError(CnnvizError):
    """A kernel or kernel file is malformed (non-finite, ragged, too large...)."""


class InputMismatchError(CnnvizError):
    """An input does not fit a model; the message names the stage that refused it."""


class SessionError(CnnvizError):
    """A .cnnviz session file that cannot be read (damaged, too large, or not a session)."""


class CheckpointError(CnnvizError):
    """A training checkpoint that cannot be resumed (damaged, not a checkpoint, or from another run)."""
