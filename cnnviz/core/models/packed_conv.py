"""Conv2d weights kept in oneDNN's own layout on the CPU, instead of reordered on every forward pass.

PyTorch's eager CPU convolution hands oneDNN the weights in PyTorch's layout, and oneDNN
reorders them into its blocked layout on every call: 20 reorders in one ResNet-18 forward,
about 5 of its ~33 ms of convolution on the 2-core development VM (ONEDNN_VERBOSE). Inductor's
freezing path keeps them reordered (``torch.ops.mkldnn._reorder_convolution_weight`` and
``_convolution_pointwise``); this does the same for an eager model, so every layer still runs
its own forward hooks and the app still sees every stage.

Nothing changes what a layer computes: the first call for each input and weight layout computes
the ordinary result too and keeps the packed weights only when both are equal bit for bit (a layer
for which PyTorch chose another algorithm keeps the ordinary call). A weight changed in place (a
kernel edit, training, ``load_state_dict``), swapped through ``.data`` or replaced is packed again;
calls that need gradients (Grad-CAM, training) and other devices or dtypes take the ordinary path.
"""

from __future__ import annotations

import types
import weakref

import torch
from torch import nn

_STATE = "_cnnviz_packed"

#: Smaller weights reorder in a few microseconds and gain less than the packed call costs
#: (MobileNet's 1x1 convolutions ran slower packed; ResNet-18's 128x64x3x3 and up ran faster).
MIN_WEIGHT_ELEMENTS = 1 << 16


class _Packed:
    """One layer's packed weights and what they were made for; copies of the model start empty."""

    __slots__ = ("args", "key", "source", "verdicts", "weight")

    def __init__(self) -> None:
        self.key: tuple | None = None
        self.source: weakref.ref | None = None  # the weight tensor packed (a new one at the same address is not it)
        self.weight: torch.Tensor | None = None  # None with a key: the ordinary call differs, keep it
        self.args: tuple = ()
        self.verdicts: dict[tuple, bool] = {}  # layout -> whether the packed call equals PyTorch's own

    def __deepcopy__(self, memo: dict) -> _Packed:
        return _Packed()


def _pointwise(*args: object) -> torch.Tensor:
    # Looked up once: resolving torch.ops.mkldnn's overload on every call costs microseconds per layer.
    global _POINTWISE
    _POINTWISE = torch.ops.mkldnn._convolution_pointwise.default
    return _POINTWISE(*args)


_POINTWISE = _pointwise


def packing_available() -> bool:
    """Whether this torch build has oneDNN and the operators that take packed weights."""
    if not torch.backends.mkldnn.is_available():
        return False
    ops = torch.ops.mkldnn
    return hasattr(ops, "_reorder_convolution_weight") and hasattr(ops, "_convolution_pointwise")


def _eligible(module: nn.Module) -> bool:
    # Exactly Conv2d: a subclass may compute something else in its own forward.
    return (type(module) is nn.Conv2d and module.padding_mode == "zeros"
            and not isinstance(module.padding, str) and module.weight.numel() >= MIN_WEIGHT_ELEMENTS)


def pack_conv_weights(model: nn.Module) -> int:
    """Make the model's plain Conv2d layers reuse packed weights on the CPU; returns how many."""
    if not packing_available():
        return 0
    count = 0
    for module in model.modules():
        if _eligible(module) and _STATE not in module.__dict__:
            setattr(module, _STATE, _Packed())
            module.forward = types.MethodType(_packed_forward, module)
            count += 1
    return count


def unpack_conv_weights(model: nn.Module) -> None:
    """Back to PyTorch's own Conv2d forward, dropping the packed copies."""
    for module in model.modules():
        if _STATE in module.__dict__:
            del module.__dict__[_STATE]
            module.__dict__.pop("forward", None)


def _packed_forward(self: nn.Conv2d, x: torch.Tensor) -> torch.Tensor:
    state: _Packed = self.__dict__[_STATE]
    weight = self.weight
    if weight.device.type != "cpu":  # the model moved: its CPU copy would only hold memory
        state.key = state.weight = state.source = None
        return self._conv_forward(x, weight, self.bias)
    if (torch.is_grad_enabled() or x.device.type != "cpu" or x.dtype != torch.float32
            or weight.dtype != torch.float32 or x.dim() != 4 or weight.is_inference()):
        return self._conv_forward(x, weight, self.bias)  # (the packing stays for the next plain frame)
    # (the thread count is there because PyTorch picks some convolutions' algorithm by it)
    key = (weight._version, weight.data_ptr(), tuple(x.shape), tuple(x.stride()), torch.get_num_threads())
    if state.key != key or state.source is None or state.source() is not weight:
        return _prepare(self, state, x, key)
    if state.weight is None:
        return self._conv_forward(x, weight, self.bias)
    return _POINTWISE(x, state.weight, self.bias, *state.args)


def _prepare(self: nn.Conv2d, state: _Packed, x: torch.Tensor, key: tuple) -> torch.Tensor:
    """Pack for this input and weight; the first time for each layout, keep the packing only if it gives
    the ordinary result exactly (which call PyTorch picks depends on shapes and layouts, not on values, so
    a kernel edit repacks without computing the layer twice)."""
    weight = self.weight
    geometry = (list(self.padding), list(self.stride), list(self.dilation), self.groups)
    layout = (*key[2:], tuple(weight.shape), tuple(weight.stride()), self.bias is None, repr(geometry))
    verdict = state.verdicts.get(layout)
    state.key, state.weight, state.source = key, None, weakref.ref(weight)
    if verdict is False:
        return self._conv_forward(x, weight, self.bias)
    try:
        packed = torch.ops.mkldnn._reorder_convolution_weight(weight, *geometry, list(x.shape))
        args: tuple[object, ...] = (*geometry, "none", [], "")
        out = _POINTWISE(x, packed, self.bias, *args)
    except RuntimeError:  # an unsupported shape or layout for oneDNN: the ordinary call it is
        state.verdicts[layout] = False
        return self._conv_forward(x, weight, self.bias)
    if verdict is None:
        expected = self._conv_forward(x, weight, self.bias)
        state.verdicts[layout] = torch.equal(out, expected)
        if not state.verdicts[layout]:
            return expected
    state.weight, state.args = packed, args
    return out
