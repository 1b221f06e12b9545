"""ONNX files, through onnx2torch, as torch fx graphs that the capture shows stage by stage.

An ONNX file is a protobuf of operators and tensors: data, not code (onnx2torch builds each operator
from its own converters), so it needs no trust step. What the file cannot give, it cannot give:
the exporter usually folds a BatchNorm into the conv before it (the conv's output is then the
normalised one, and no norm stage shows), and the module names are what the exporter wrote.

Both of torch's exporters are read: the TorchScript-based one (node names such as
``/layer1/layer1.0/conv1/Conv``) and the newer ``dynamo=True`` one (opset 18, with the module path in
each node's ``pkg.torch.onnx.name_scopes``), which onnx2torch reaches once the file is brought to an
opset it converts and static ``Reshape(allowzero=1)`` nodes are given the meaning they have anyway.
Stages are named after the user's modules where the file says them.
"""

from __future__ import annotations

import ast
import operator
import re
from pathlib import Path
from typing import Any

import torch
from torch import fx, nn

from cnnviz.core.errors import ModelError
from cnnviz.core.fileio import quiet
from cnnviz.core.models.weight_files import short_error

#: What to install for this route (onnx reads the file, onnx2torch converts it).
ONNX_EXTRA = "pip install 'cnnviz[onnx]'"
#: The newest opset whose operators onnx2torch 1.5 converts (files from newer exporters are converted down).
CONVERTIBLE_OPSET = 17
_MATH = {torch.add: operator.add, torch.sub: operator.sub, torch.mul: operator.mul}


def is_onnx(path: Path) -> bool:
    return path.suffix.lower() == ".onnx"


def load_onnx(path: Path) -> tuple[nn.Module, tuple[int, int, int] | None]:
    """The network in ``path`` as an fx graph module, and the input shape (C, H, W) its graph states."""
    try:
        import onnx
        import onnx2torch  # noqa: F401 - (imported here so that a missing extra is one sentence)
    except ImportError:
        raise ModelError(f"{path.name} is an ONNX file; reading it needs the ONNX extra: {ONNX_EXTRA}") from None
    with quiet():
        try:
            proto = onnx.load(str(path), load_external_data=False)  # (external files only once checked)
        except Exception as exc:  # noqa: BLE001 - protobuf's DecodeError and friends: a damaged file
            raise ModelError(f"{path.name} is not a readable ONNX file ({short_error(exc)}).") from None
        _load_external_data(proto, path)
    shape = _input_shape(proto, path)
    with quiet():
        module = _convert(proto, path)
    return _tidy(module, proto), shape


def onnx_input_shape(path: Path) -> tuple[int, int, int] | None:
    """The input shape (C, H, W) an ONNX file's graph states, read without converting or running anything
    (the Open form shows it); None when it states none, or when the file cannot say (loading says why)."""
    try:
        import onnx
    except ImportError:
        return None
    with quiet():
        try:
            return _input_shape(onnx.load(str(path), load_external_data=False), path)
        except Exception:  # noqa: BLE001 - a damaged or unusual file: the load that follows gives the sentence
            return None


def _load_external_data(proto: Any, path: Path) -> None:  # noqa: ANN401 - (onnx's ModelProto)
    """Weights kept in files beside the model (large exports): read only files that are in the model's
    own folder and are regular files, so a crafted location cannot make cnnviz read anything else."""
    from onnx.external_data_helper import ExternalDataInfo, load_external_data_for_model, uses_external_data

    from cnnviz.core.fileio import regular_file

    folder = path.parent.resolve()
    tensors = [t for t in proto.graph.initializer if uses_external_data(t)]
    for tensor in tensors:
        location = ExternalDataInfo(tensor).location
        target = (folder / location).resolve()
        if folder not in target.parents:
            raise ModelError(f"{path.name} keeps weights at '{location}', outside its own folder; cnnviz reads "
                             f"an ONNX file's external data only from beside it.")
        regular_file(target, "ONNX external data file", ModelError)
    if tensors:
        try:
            load_external_data_for_model(proto, str(folder))
        except Exception as exc:  # noqa: BLE001 - truncated or missing data files
            raise ModelError(f"The external data of {path.name} cannot be read ({short_error(exc)}).") from None


def _input_shape(proto: Any, path: Path) -> tuple[int, int, int] | None:  # noqa: ANN401 - (onnx's ModelProto)
    initialisers = {i.name for i in proto.graph.initializer}
    inputs = [i for i in proto.graph.input if i.name not in initialisers]
    if len(inputs) != 1:
        raise ModelError(f"{path.name} has {len(inputs)} inputs; cnnviz shows networks that take one image.")
    dims = [d.dim_value if d.HasField("dim_value") else None for d in inputs[0].type.tensor_type.shape.dim]
    if len(dims) != 4:
        raise ModelError(f"{path.name} takes a {len(dims)}-D input, not a batch of images (N, C, H, W).")
    c, h, w = dims[1:]
    return (c, h, w) if c and h and w else None


def _convert(proto: Any, path: Path) -> fx.GraphModule:  # noqa: ANN401
    import onnx2torch
    from onnx import version_converter

    try:
        _static_reshapes(proto)
        return onnx2torch.convert(proto)
    except NotImplementedError as exc:
        first = exc
    except Exception as exc:  # noqa: BLE001 - a malformed graph or tensor: say so in one line
        raise ModelError(f"onnx2torch could not convert {path.name}: {short_error(exc)}") from None
    opset = max((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), default=0)
    if opset > CONVERTIBLE_OPSET:
        try:
            older = version_converter.convert_version(proto, CONVERTIBLE_OPSET)
            _static_reshapes(older)
            return onnx2torch.convert(older)
        except Exception:  # noqa: BLE001 - the first refusal is the one to report
            pass
    found = re.search(r"operation_type='([^']+)', version=(\d+)", str(first))
    what = f"its {found.group(1)} operator (opset {found.group(2)})" if found else short_error(first)
    advice = (f"export it again with opset {CONVERTIBLE_OPSET} (torch.onnx.export(..., opset_version="
              f"{CONVERTIBLE_OPSET}))" if found and int(found.group(2)) > CONVERTIBLE_OPSET
              else "onnx2torch converts the usual CNN operators (Conv, Relu, pooling, Add, Concat, Gemm, ...)")
    raise ModelError(f"{path.name} cannot be shown: onnx2torch has no converter for {what}; {advice}.") from None


def _static_reshapes(proto: Any) -> None:  # noqa: ANN401
    """``allowzero=1`` means 'a 0 in the shape is a 0'; with a constant shape that has no 0 it means
    nothing, and onnx2torch refuses the attribute, so it is dropped there (and only there)."""
    from onnx import numpy_helper

    constants = {i.name: numpy_helper.to_array(i) for i in proto.graph.initializer}
    for node in proto.graph.node:
        if node.op_type == "Constant" and node.attribute and node.attribute[0].name == "value":
            constants[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)
    for node in proto.graph.node:
        if node.op_type != "Reshape" or len(node.input) < 2:
            continue
        shape = constants.get(node.input[1])
        keep = [a for a in node.attribute if not (a.name == "allowzero" and shape is not None and (shape != 0).all())]
        if len(keep) != len(node.attribute):
            del node.attribute[:]
            node.attribute.extend(keep)


def _stage_name(node: Any) -> str:  # noqa: ANN401 - (an onnx NodeProto)
    """The user's module path for an ONNX node, as each exporter writes it; '' when it says none."""
    for prop in node.metadata_props:
        if prop.key == "pkg.torch.onnx.name_scopes":
            try:
                scopes = [str(s) for s in ast.literal_eval(prop.value)]  # a literal list of strings: data only
            except (ValueError, SyntaxError):
                break
            return ".".join(s for s in scopes[1:-1] if s) or (scopes[-1] if scopes else "")
    parts = [p for p in node.name.split("/") if p]
    if len(parts) < 2:
        return node.op_type.lower() if parts or not node.name else node.name
    path = ""
    for part in parts[:-1]:  # the TorchScript exporter writes /layer1/layer1.0/conv1/Conv
        path = part if not path or part.startswith(path + ".") else f"{path}.{part}"
    return path


def _identifier(name: str) -> str:
    parts = [re.sub(r"\W", "_", p) or "_" for p in name.split(".")]
    return ".".join(parts) or "stage"


def _tidy(module: fx.GraphModule, proto: Any) -> fx.GraphModule:  # noqa: ANN401
    """Rename the converted modules after the user's, and turn onnx2torch's add / concat / global pool
    into torch's own ops, which the capture knows by kind."""
    from onnx2torch.node_converters.binary_math_operations import OnnxBinaryMathOperation
    from onnx2torch.node_converters.concat import OnnxConcat
    from onnx2torch.node_converters.global_average_pool import (
        OnnxGlobalAveragePool,
        OnnxGlobalAveragePoolWithKnownInputShape,
    )
    from onnx2torch.node_converters.reduce import OnnxReduceStaticAxes
    from onnx2torch.node_converters.reshape import OnnxReshape

    graph = module.graph
    calls = [n for n in graph.nodes if n.op == "call_module"]
    onnx_nodes = list(proto.graph.node)
    names = [_stage_name(n) for n in onnx_nodes] if len(onnx_nodes) == len(calls) else [str(c.target) for c in calls]
    root = nn.Module()
    for node in graph.nodes:  # the constants (initialisers) the graph reads, where it reads them
        if node.op == "get_attr":
            *parents, leaf = str(node.target).split(".")
            owner = root
            for part in parents:
                owner = _child(owner, part)
            value = _attr(module, str(node.target))
            if isinstance(value, nn.Module):
                owner.add_module(leaf, value)
            else:
                owner.register_buffer(leaf, value)
    used: dict[str, int] = {}
    for node, wanted in zip(calls, names, strict=True):
        sub = module.get_submodule(str(node.target))
        if isinstance(sub, OnnxBinaryMathOperation) and sub.broadcast != 1 and sub.math_op_function in _MATH:
            node.op, node.target = "call_function", _MATH[sub.math_op_function]
            continue
        if isinstance(sub, OnnxConcat):
            node.op, node.target = "call_function", torch.cat
            node.args, node.kwargs = (list(node.args),), {"dim": sub.axis}
            continue
        if isinstance(sub, OnnxReshape) and _flattens(module, node):
            node.op, node.target, node.args = "call_function", torch.flatten, (node.args[0], 1)
            continue
        if isinstance(sub, OnnxGlobalAveragePool | OnnxGlobalAveragePoolWithKnownInputShape) or (
                isinstance(sub, OnnxReduceStaticAxes) and sub.operation_type == "ReduceMean" and sub.keepdims
                and sorted(a % 4 for a in sub.axes or ()) == [2, 3]):  # (the newer exporter's global pool)
            sub = nn.AdaptiveAvgPool2d(1)
        name = _identifier(wanted)
        n = used.get(name, 0)
        used[name] = n + 1
        target = name if n == 0 else f"{name}_{n}"
        try:
            _put(root, target, sub)
        except (KeyError, AttributeError, TypeError):  # a leaf's name is another module's parent: flatten it
            target = target.replace(".", "_")
            _put(root, target, sub)
        node.target = target
    tidy = fx.GraphModule(root, graph, "OnnxModel")
    tidy.eval()
    return tidy


def _flattens(module: nn.Module, node: fx.Node) -> bool:
    """A Reshape to a constant (batch, features) or (batch, -1): what torch.flatten(x, 1) and
    x.view(x.size(0), -1) export as."""
    if len(node.args) != 2 or not isinstance(node.args[1], fx.Node) or node.args[1].op != "get_attr":
        return False
    shape = _attr(module, str(node.args[1].target))
    # (a batch of one may be written [1, features]: valid only when that is what flattening gives anyway)
    return isinstance(shape, torch.Tensor) and shape.numel() == 2 and int(shape[0]) in (1, -1)


def _attr(module: nn.Module, target: str) -> Any:  # noqa: ANN401 - a tensor or a module
    value: Any = module
    for part in target.split("."):
        value = getattr(value, part)
    return value


def _child(owner: nn.Module, part: str) -> nn.Module:
    """``owner``'s child ``part``, made (an empty container) when it has none."""
    found = owner._modules.get(part)  # noqa: SLF001 - (nn.Module keeps its children in this dict)
    if found is None:
        found = nn.Module()
        owner.add_module(part, found)
    return found


def _put(root: nn.Module, target: str, sub: nn.Module) -> None:
    *parents, leaf = target.split(".")
    owner = root
    for part in parents:
        owner = _child(owner, part)
        if any(True for _ in owner.parameters(recurse=False)):  # a layer, not a container
            raise KeyError(target)
    if leaf in owner._modules:  # noqa: SLF001
        raise KeyError(target)
    owner.add_module(leaf, sub)
