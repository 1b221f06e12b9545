"""A ``torch.export`` program (``.pt2``) as a network whose stages carry the user's module names.

``torch.export.load`` may unpickle parts of the archive (weights and constants stored as pickles are read
with ``torch.load(weights_only=False)`` or ``pickle.loads``), so a ``.pt2`` is code: callers ask for trust.

The program's graph holds ATen ops (``aten.conv2d``, ``aten.batch_norm``, ...). Each op that a leaf module
of the user's network ran (``node.meta["nn_module_stack"]``) becomes that module again (``nn.Conv2d``
with the program's own weight tensors, ``nn.BatchNorm2d``, ``nn.ReLU``, ...), registered under the user's
path (``layer1.0.conv1``); the functional ops (``F.relu``, residual adds, ``torch.cat``, ``flatten``)
become their torch functions. The result is an ``fx.GraphModule``, which capture traces like any model.
Ops outside these tables stay as they are and show as stages of kind ``other``.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import fx, nn

from cnnviz.core.errors import ModelError

aten = torch.ops.aten


def _args(node: fx.Node) -> list[Any]:
    """A node's positional arguments, typed loosely (each builder checks what it takes)."""
    return list(node.args)


def _conv(node: fx.Node, tensors: Callable[[Any], Any]) -> nn.Module | None:
    args = [*_args(node), None, None, None, None, None, None, None, None][:9]
    if node.target is aten.convolution.default:  # (x, w, b, stride, padding, dilation, transposed, out_pad, groups)
        if args[6]:
            return None
        args[6] = args[8]
    weight, bias = tensors(args[1]), tensors(args[2])
    if not isinstance(weight, torch.Tensor) or weight.dim() != 4:
        return None
    stride, padding, dilation = args[3] or 1, args[4] or 0, args[5] or 1
    groups = int(args[6] or 1)
    if isinstance(padding, str):
        return None
    kernel = (int(weight.shape[2]), int(weight.shape[3]))
    module = nn.Conv2d(int(weight.shape[1]) * groups, int(weight.shape[0]), kernel,
                       stride=stride, padding=padding, dilation=dilation, groups=groups, bias=bias is not None)
    module.weight = nn.Parameter(weight, requires_grad=weight.requires_grad)
    if bias is not None:
        module.bias = nn.Parameter(bias, requires_grad=bias.requires_grad)
    return module


def _batch_norm(node: fx.Node, tensors: Callable[[Any], Any]) -> nn.Module | None:
    if len(node.args) < 8:
        return None
    _x, weight, bias, mean, var, _training, momentum, eps = _args(node)[:8]
    weight, bias, mean, var = tensors(weight), tensors(bias), tensors(mean), tensors(var)
    if not isinstance(mean, torch.Tensor) or not isinstance(var, torch.Tensor):
        return None
    module = nn.BatchNorm2d(int(mean.shape[0]), eps=float(eps), momentum=float(momentum),
                            affine=weight is not None)
    if weight is not None:
        module.weight = nn.Parameter(weight, requires_grad=weight.requires_grad)
        module.bias = nn.Parameter(bias, requires_grad=bias.requires_grad)
    module.running_mean, module.running_var = mean, var
    return module


def _linear(node: fx.Node, tensors: Callable[[Any], Any]) -> nn.Module | None:
    args = _args(node)
    weight = tensors(args[1])
    bias = tensors(args[2]) if len(args) > 2 else None
    if not isinstance(weight, torch.Tensor) or weight.dim() != 2:
        return None
    module = nn.Linear(int(weight.shape[1]), int(weight.shape[0]), bias=bias is not None)
    module.weight = nn.Parameter(weight, requires_grad=weight.requires_grad)
    if bias is not None:
        module.bias = nn.Parameter(bias, requires_grad=bias.requires_grad)
    return module


def _max_pool(node: fx.Node, _tensors: Callable[[Any], Any]) -> nn.Module:
    args = _args(node)[1:] + [None] * 5
    kernel, stride, padding, dilation, ceil = args[:5]
    return nn.MaxPool2d(kernel, stride=stride or kernel, padding=padding or 0, dilation=dilation or 1,
                        ceil_mode=bool(ceil))


def _avg_pool(node: fx.Node, _tensors: Callable[[Any], Any]) -> nn.Module:
    args = _args(node)[1:] + [None] * 4
    kernel, stride, padding, ceil = args[:4]
    return nn.AvgPool2d(kernel, stride=stride or kernel, padding=padding or 0, ceil_mode=bool(ceil))


#: ATen op -> (the leaf module class it comes from, how to rebuild that module from the node).
_MODULES: dict[Any, tuple[str, Callable[[fx.Node, Callable[[Any], Any]], nn.Module | None]]] = {
    aten.conv2d.default: ("Conv2d", _conv),
    aten.convolution.default: ("Conv2d", _conv),
    aten.batch_norm.default: ("BatchNorm2d", _batch_norm),
    aten._native_batch_norm_legit_no_training.default: ("BatchNorm2d", _batch_norm),
    aten.linear.default: ("Linear", _linear),
    aten.relu.default: ("ReLU", lambda _n, _t: nn.ReLU()),
    aten.relu_.default: ("ReLU", lambda _n, _t: nn.ReLU()),
    aten.max_pool2d.default: ("MaxPool2d", _max_pool),
    aten.avg_pool2d.default: ("AvgPool2d", _avg_pool),
    aten.adaptive_avg_pool2d.default: ("AdaptiveAvgPool2d", lambda n, _t: nn.AdaptiveAvgPool2d(_args(n)[1])),
    aten.dropout.default: ("Dropout", lambda n, _t: nn.Dropout(float(_args(n)[1]))),
    aten.dropout_.default: ("Dropout", lambda n, _t: nn.Dropout(float(_args(n)[1]))),
    aten.flatten.using_ints: ("Flatten", lambda n, _t: nn.Flatten(*_args(n)[1:3])),
}
#: ATen op -> the torch function capture knows (for functional calls in a forward).
_FUNCTIONS: dict[Any, Callable[..., Any]] = {
    aten.relu.default: F.relu, aten.relu_.default: F.relu,
    aten.add.Tensor: operator.add, aten.add_.Tensor: operator.add,
    aten.mul.Tensor: operator.mul, aten.cat.default: torch.cat,
    aten.flatten.using_ints: torch.flatten,
    aten.adaptive_avg_pool2d.default: F.adaptive_avg_pool2d,
    aten.max_pool2d.default: F.max_pool2d, aten.avg_pool2d.default: F.avg_pool2d,
    aten.sigmoid.default: torch.sigmoid, aten.tanh.default: torch.tanh,
    aten.view.default: torch.reshape, aten.reshape.default: torch.reshape,
    aten.dropout.default: F.dropout,
}
_WEIGHTED = ("Conv2d", "BatchNorm2d", "Linear")


def load_exported(path: Path) -> tuple[nn.Module, tuple[int, ...] | None]:
    """The network of the ``.pt2`` file ``path`` (already trusted), and the shape of one input sample."""
    try:
        program = torch.export.load(str(path))
    except Exception as exc:  # noqa: BLE001 - a foreign archive failing is the user's error
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(f"{path.name} could not be read as a torch.export program ({text[:160]}).") from None
    return from_program(program)


def from_program(program: Any) -> tuple[nn.Module, tuple[int, ...] | None]:
    """An ``fx.GraphModule`` with the user's module names, and one input sample's shape."""
    source = program.module()
    graph = fx.Graph()
    root = nn.Module()
    env: dict[fx.Node, Any] = {}
    shape: tuple[int, ...] | None = None
    built: dict[str, nn.Module] = {}
    constants = 0

    def tensor_of(value: Any) -> Any:
        if isinstance(value, fx.Node) and value.op == "get_attr":
            return _attr(source, str(value.target))
        return None if value is None else value

    def mapped(value: Any) -> Any:
        return fx.node.map_arg(value, lambda n: env[n])

    for node in source.graph.nodes:
        if node.op == "placeholder":
            env[node] = graph.placeholder(node.name)
            value = node.meta.get("val")
            if shape is None and isinstance(value, torch.Tensor) and value.dim() >= 2:
                shape = tuple(int(s) for s in value.shape[1:])
        elif node.op == "get_attr":
            tensor = _attr(source, str(node.target))
            name = f"_constant_{constants}"
            constants += 1
            setattr(root, name, tensor) if isinstance(tensor, nn.Module) else root.register_buffer(name, tensor)
            env[node] = graph.get_attr(name)
        elif node.op == "call_module":  # torch.export's guard function: not part of the network
            env[node] = None
        elif node.op == "output":
            result = mapped(node.args[0])
            if isinstance(result, tuple | list) and len(result) == 1:  # export returns a flat tuple of outputs
                result = result[0]
            graph.output(result)
        elif node.op == "call_function":
            env[node] = _convert(node, graph, root, built, tensor_of, mapped)
        else:
            env[node] = graph.node_copy(node, lambda n: env[n])
    module = fx.GraphModule(root, graph, "ExportedProgram")
    module.eval()
    return module, shape


def _convert(node: fx.Node, graph: fx.Graph, root: nn.Module, built: dict[str, nn.Module],
             tensor_of: Callable[[Any], Any], mapped: Callable[[Any], Any]) -> fx.Node:
    table = _MODULES.get(node.target)
    owner = _leaf_owner(node) or (_weight_owner(node, table[0]) if table else None)
    if owner is not None and table is not None and owner[1] == table[0]:
        path = owner[0]
        module = built.get(path)
        if module is None:
            module = table[1](node, tensor_of)
            if module is not None:
                _set_module(root, path, module)
                built[path] = module
        if module is not None:
            return graph.call_module(path, (mapped(node.args[0]),))
    function = _FUNCTIONS.get(node.target)
    if function is not None:
        args = mapped(node.args)
        if function is torch.reshape:
            return graph.call_function(function, (args[0], tuple(args[1])))
        return graph.call_function(function, tuple(args), mapped(dict(node.kwargs)))
    target: Any = node.target
    return graph.call_function(target, mapped(node.args), mapped(dict(node.kwargs)))


def _leaf_owner(node: fx.Node) -> tuple[str, str] | None:
    """(path, class name) of the innermost module whose forward ran ``node``, when it is not the root."""
    stack = node.meta.get("nn_module_stack") or {}
    if not stack:
        return None
    path, type_name = list(stack.values())[-1][:2]
    path = str(path)
    if not path or path.startswith("L__self__") and path == "L__self__":
        return None
    class_name = type_name.__name__ if isinstance(type_name, type) else str(type_name).rpartition(".")[2]
    return path.replace("L__self___", "").replace("_modules_", ""), class_name


def _weight_owner(node: fx.Node, class_name: str) -> tuple[str, str] | None:
    """(path, class name) from the weight a conv, norm or linear op reads (``stem.weight`` -> ``stem``),
    for programs without module stacks (converted from TorchScript)."""
    weight = node.args[1] if len(node.args) > 1 else None
    if class_name not in _WEIGHTED or not isinstance(weight, fx.Node) or weight.op != "get_attr":
        return None
    path, _, leaf = str(weight.target).rpartition(".")
    return (path, class_name) if path and leaf == "weight" else None


def from_torchscript(module: torch.jit.ScriptModule, shape: tuple[int, int, int]) -> nn.Module:
    """A TorchScript module as an fx network (via torch's TorchScript-to-export converter), run on a zero
    input of ``shape``; raises whatever the converter raises for a script it cannot convert."""
    import logging

    from torch._export.converter import TS2EPConverter

    logger = logging.getLogger("torch")
    level = logger.level
    logger.setLevel(logging.ERROR)  # "dimension ... specialized" is not the user's business
    try:
        program = TS2EPConverter(module, (torch.zeros((1, *shape)),)).convert()
    finally:
        logger.setLevel(level)
    return from_program(program)[0]


def _attr(module: nn.Module, target: str) -> Any:
    value: Any = module
    for part in target.split("."):
        value = getattr(value, part)
    return value


def _set_module(root: nn.Module, path: str, module: nn.Module) -> None:
    """Register ``module`` at the dotted ``path`` under ``root``, making plain containers on the way."""
    *parents, leaf = path.split(".")
    parent = root
    for part in parents:
        child = parent._modules.get(part)
        if child is None:
            child = nn.Module()
            parent.add_module(part, child)
        parent = child
    parent.add_module(leaf, module)
