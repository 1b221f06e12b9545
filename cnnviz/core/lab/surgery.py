"""Putting a hand-made kernel into a trained network, and taking it out again exactly.

The edit changes the loaded model in memory only (never its file). The original weights
are cloned before the first edit of a layer, and "reset" copies them back, so the model
returns bitwise to what was loaded. In the app this runs on the worker thread, between
forward passes, so an edit never races a forward pass.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from cnnviz.core.errors import KernelError


@dataclass(frozen=True)
class FilterEdit:
    """Replace filter ``filter_index`` of the conv module at ``stage`` with ``kernel``.

    ``channel=None`` puts the kernel on every input channel; an int puts it on that input
    channel only, with zeros on the others.
    """

    stage: str
    module_path: str
    filter_index: int
    kernel: np.ndarray
    channel: int | None = None


def conv_modules(model: nn.Module) -> dict[str, nn.Conv2d]:
    """Every 2-D conv of a model by its module path."""
    return {name: m for name, m in model.named_modules() if isinstance(m, nn.Conv2d)}


def fit_kernel(kernel: np.ndarray, height: int, width: int) -> np.ndarray:
    """Centre a smaller kernel in the layer's size (zero padding); refuse a larger one."""
    kh, kw = kernel.shape
    if kh > height or kw > width:
        raise KernelError(f"the kernel is {kh}x{kw} but this layer's filters are {height}x{width}; "
                          f"use a kernel of at most {height}x{width}")
    if (height - kh) % 2 or (width - kw) % 2:
        raise KernelError(f"a {kh}x{kw} kernel cannot be centred in a {height}x{width} filter; "
                          f"use an {'odd' if height % 2 else 'even'}-sized kernel")
    out = np.zeros((height, width), np.float32)
    top, left = (height - kh) // 2, (width - kw) // 2
    out[top:top + kh, left:left + kw] = kernel
    return out


class Surgeon:
    """Applies and undoes filter edits on one model, remembering the trained weights."""

    def __init__(self, model: nn.Module) -> None:
        self.model = model
        self._saved: dict[str, torch.Tensor] = {}

    @property
    def edited(self) -> bool:
        return bool(self._saved)

    def apply(self, edit: FilterEdit) -> None:
        module = conv_modules(self.model).get(edit.module_path)
        if module is None:
            raise KernelError(f"{edit.stage} is not a 2-D conv layer of this model")
        out_channels, in_per_group, kh, kw = module.weight.shape
        if not 0 <= edit.filter_index < out_channels:
            raise KernelError(f"{edit.stage} has filters 0..{out_channels - 1}, not {edit.filter_index}")
        if edit.channel is not None and not 0 <= edit.channel < in_per_group:
            raise KernelError(f"{edit.stage}'s filters have input channels 0..{in_per_group - 1}, not {edit.channel}")
        fitted = torch.from_numpy(fit_kernel(np.asarray(edit.kernel, np.float32), kh, kw))
        new = torch.zeros((in_per_group, kh, kw), dtype=module.weight.dtype)
        if edit.channel is None:
            new[:] = fitted
        else:
            new[edit.channel] = fitted
        if edit.module_path not in self._saved:
            self._saved[edit.module_path] = module.weight.detach().clone()
        with torch.no_grad():
            module.weight[edit.filter_index].copy_(new.to(module.weight.device))

    def reset(self) -> None:
        """Back to the loaded weights, bit for bit."""
        modules = conv_modules(self.model)
        with torch.no_grad():
            for path, weight in self._saved.items():
                modules[path].weight.copy_(weight)
        self._saved.clear()


class trained_weights:  # noqa: N801 - used as a context manager, reads like one
    """Temporarily put the trained weights back (to compare against them), then the edits again."""

    def __init__(self, surgeon: Surgeon) -> None:
        self.surgeon = surgeon
        self._edited: dict[str, torch.Tensor] = {}

    def __enter__(self) -> Surgeon:
        modules = conv_modules(self.surgeon.model)
        with torch.no_grad():
            for path, weight in self.surgeon._saved.items():
                self._edited[path] = modules[path].weight.detach().clone()
                modules[path].weight.copy_(weight)
        return self.surgeon

    def __exit__(self, *_exc: object) -> None:
        modules = conv_modules(self.surgeon.model)
        with torch.no_grad():
            for path, weight in self._edited.items():
                modules[path].weight.copy_(weight)
