"""Every stage of a forward pass, in the order it ran, with outputs nobody overwrote.

torch.fx traces the model once (as torchvision's ``feature_extraction`` does) so that
functional ops (``F.relu``, residual ``add``, ``torch.flatten``) are stages too, and a
module called twice gives two stages. On the traced copy every in-place op is made
out-of-place, so a conv output stays as the conv produced it even when the model's own
ReLU is ``inplace=True``; the copy shares its parameters with the model, so weight edits
show up at once. The traced module returns every stage output from one forward call:
no clones and no hooks, which keeps capture within a few percent of the bare forward.

Models fx cannot trace (data-dependent control flow) fall back to forward hooks on leaf
modules that copy each output the moment it is produced."""

from __future__ import annotations

import copy
import inspect
import operator
import weakref
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import fx, nn

from cnnviz.core.errors import InputMismatchError


@dataclass(frozen=True)
class Stage:
    """One step of the forward pass: ``output`` keeps the batch dimension the model produced."""

    name: str
    kind: str
    output: torch.Tensor
    module: nn.Module | None
    target: str = ""
    inputs: tuple[str, ...] = ()

    @property
    def shape(self) -> tuple[int, ...]:
        """Output shape of one sample (without the batch dimension)."""
        return tuple(self.output.shape[1:])


@dataclass
class Capture(Sequence[Stage]):
    """The ordered stages of one forward pass, plus the input, logits and probabilities."""

    input: torch.Tensor
    stages: list[Stage]
    logits: torch.Tensor | None
    probabilities: torch.Tensor | None
    traced: bool = True
    notes: list[str] = field(default_factory=list)

    def __getitem__(self, index):
        return self.stages[index]

    def __len__(self) -> int:
        return len(self.stages)

    def __iter__(self) -> Iterator[Stage]:
        return iter(self.stages)

    @property
    def names(self) -> list[str]:
        return [s.name for s in self.stages]

    def by_name(self, name: str) -> Stage:
        for stage in self.stages:
            if stage.name == name:
                return stage
        raise KeyError(name)


_ACTIVATIONS = (nn.Sigmoid, nn.Tanh, nn.GELU, nn.SiLU, nn.Hardswish, nn.Hardsigmoid, nn.LeakyReLU, nn.ELU,
                nn.PReLU, nn.Mish, nn.Softplus, nn.Hardtanh)
_MODULE_KINDS: list[tuple[type | tuple[type, ...], str]] = [
    (nn.modules.conv._ConvNd, "conv"),
    ((nn.ReLU, nn.ReLU6), "relu"),
    ((nn.modules.pooling._MaxPoolNd, nn.modules.pooling._AvgPoolNd, nn.modules.pooling._AdaptiveAvgPoolNd,
      nn.modules.pooling._AdaptiveMaxPoolNd, nn.modules.pooling._LPPoolNd), "pool"),
    ((nn.modules.batchnorm._NormBase, nn.LayerNorm, nn.GroupNorm, nn.LocalResponseNorm), "norm"),
    (nn.Linear, "linear"),
    ((nn.Flatten, nn.Unflatten), "flatten"),
    (nn.modules.dropout._DropoutNd, "dropout"),
    ((nn.Softmax, nn.LogSoftmax), "softmax"),
    (nn.Identity, "identity"),
    (_ACTIVATIONS, "activation"),
]
_FUNCTION_KINDS: dict[fx.node.Target, str] = {
    operator.add: "add", operator.iadd: "add", torch.add: "add",
    operator.mul: "mul", operator.imul: "mul", torch.mul: "mul",
    F.relu: "relu", torch.relu: "relu", F.relu6: "relu",
    torch.flatten: "flatten", torch.cat: "concat", operator.getitem: "index",
    F.adaptive_avg_pool2d: "pool", F.adaptive_max_pool2d: "pool", F.max_pool2d: "pool", F.avg_pool2d: "pool",
    F.dropout: "dropout", torch.softmax: "softmax", F.softmax: "softmax", F.log_softmax: "softmax",
    F.hardsigmoid: "activation", F.hardswish: "activation", torch.sigmoid: "activation", F.silu: "activation",
    torch.tanh: "activation",
}
_METHOD_KINDS = {"view": "reshape", "reshape": "reshape", "flatten": "flatten", "relu": "relu", "mean": "pool",
                 "add": "add", "mul": "mul", "softmax": "softmax", "sigmoid": "activation", "squeeze": "reshape",
                 "unsqueeze": "reshape", "permute": "reshape", "transpose": "reshape", "contiguous": "reshape"}
_SKIP_METHODS = {"size", "dim", "numel", "type", "to", "float", "detach", "cpu", "__len__"}
_INPLACE_OPERATORS = {operator.iadd: operator.add, operator.isub: operator.sub, operator.imul: operator.mul,
                      operator.itruediv: operator.truediv}


def module_kind(module: nn.Module) -> str:
    for types, kind in _MODULE_KINDS:
        if isinstance(module, types):
            return kind
    return "other"


class _ScopeTracer(fx.Tracer):
    """Records, for every node, the path of the module whose forward created it."""

    def __init__(self) -> None:
        super().__init__()
        self.cnnviz_scope = ""

    def call_module(self, m: nn.Module, forward: Callable, args: tuple, kwargs: dict):  # noqa: ANN201
        previous, self.cnnviz_scope = self.cnnviz_scope, self.path_of_module(m)
        try:
            return super().call_module(m, forward, args, kwargs)
        finally:
            self.cnnviz_scope = previous

    def create_proxy(self, kind, target, args, kwargs, name=None, type_expr=None, *rest, **more):  # noqa: ANN001, ANN201
        proxy = super().create_proxy(kind, target, args, kwargs, name, type_expr, *rest, **more)
        proxy.node.meta["cnnviz_scope"] = self.cnnviz_scope
        return proxy


@dataclass(frozen=True)
class _Recorded:
    name: str
    kind: str
    module: nn.Module | None
    target: str
    inputs: tuple[str, ...]


class Capturer:
    """Traces a model once, then captures every stage of each forward call.

    It holds its model weakly: ``capturer_for`` keeps capturers in a dictionary keyed weakly by the model,
    and a value that held its key strongly would keep every model ever captured alive (the app leaked each
    model it switched away from, traced graph and all). The traced copy holds only the model's submodules.
    """

    def __init__(self, model: nn.Module) -> None:
        from cnnviz.core.engine.memory import tune_allocator

        tune_allocator()
        self._model = weakref.ref(model)
        self.traced = True
        self.notes: list[str] = []
        try:
            self._graph_module, self._recorded = _trace(model)
        except Exception as exc:  # noqa: BLE001 - any tracing failure means: use hooks instead
            self.traced = False
            self.notes.append(f"torch.fx could not trace this model ({type(exc).__name__}); "
                              "functional ops such as F.relu and residual adds are not shown.")

    @property
    def model(self) -> nn.Module:
        model = self._model()
        if model is None:  # (only a caller that kept the capturer but not its model sees this)
            raise RuntimeError("The model of this capturer no longer exists.")
        return model

    @property
    def device(self) -> torch.device:
        param = next(self.model.parameters(), None)
        return param.device if param is not None else torch.device("cpu")

    def __call__(self, x: torch.Tensor, *, grad: bool = False) -> Capture:
        if x.dim() == 3:
            x = x.unsqueeze(0)
        x = x.to(self.device)
        with torch.set_grad_enabled(grad):
            try:
                if self.traced:
                    final, stages = self._run_traced(x)
                else:
                    final, stages = self._run_hooked(x)
            except torch.OutOfMemoryError:
                raise  # not the input's fault: the caller may retry on the CPU
            except RuntimeError as exc:
                raise InputMismatchError(_mismatch_message(exc, x, self._failing_stage(x))) from None
            logits, probabilities = _add_softmax(final, stages)
        return Capture(x, stages, logits, probabilities, self.traced, list(self.notes))

    def _failing_stage(self, x: torch.Tensor) -> str | None:
        """Re-run node by node to name the stage that refused the input."""
        if not self.traced:
            return None
        names = {r.target: r.name for r in self._recorded}
        failed: list[str] = []

        class Locator(fx.Interpreter):
            def run_node(self, n: fx.Node):  # noqa: ANN201
                try:
                    return super().run_node(n)
                except Exception:
                    failed.append(names.get(str(n.target), n.name))
                    raise

        try:
            with torch.no_grad():
                Locator(self._graph_module).run(x)
        except Exception:  # noqa: BLE001 - we only want the name
            pass
        return failed[0] if failed else None

    def _run_traced(self, x: torch.Tensor) -> tuple[object, list[Stage]]:
        final, *values = self._graph_module(x)
        stages = [Stage(r.name, r.kind, v, r.module, r.target, r.inputs)
                  for r, v in zip(self._recorded, values, strict=True)
                  if isinstance(v, torch.Tensor) and v.dim() >= 1]
        return final, stages

    def _run_hooked(self, x: torch.Tensor) -> tuple[object, list[Stage]]:
        stages: list[Stage] = []
        counts: dict[str, int] = {}
        handles = []
        previous = ["input"]

        def hook(name: str) -> Callable:
            def fire(module: nn.Module, _inputs: tuple, output: object) -> None:
                if isinstance(output, torch.Tensor):
                    n = counts.get(name, 0)
                    counts[name] = n + 1
                    unique = name if n == 0 else f"{name}_{n}"
                    stages.append(Stage(unique, module_kind(module), output.detach().clone(), module, name,
                                        (previous[0],)))
                    previous[0] = unique
            return fire

        for name, module in self.model.named_modules():
            if name and not any(True for _ in module.children()):
                try:
                    handles.append(module.register_forward_hook(hook(name)))
                except RuntimeError:  # scripted modules may refuse hooks
                    pass
        try:
            final = self.model(x)
        finally:
            for handle in handles:
                handle.remove()
        return final, stages


def _trace(model: nn.Module) -> tuple[fx.GraphModule, list[_Recorded]]:
    tracer = _ScopeTracer()
    graph = tracer.trace(model)
    gm = fx.GraphModule(tracer.root, graph, type(model).__name__)
    modules = dict(gm.named_modules())
    originals = dict(model.named_modules())
    recorded: list[_Recorded] = []
    record_nodes: list[fx.Node] = []
    names: dict[fx.Node, str] = {}
    used: dict[str, int] = {}
    output_node = None
    for node in graph.nodes:
        if node.op == "placeholder":
            names[node] = "input"
            continue
        if node.op == "output":
            output_node = node
            continue
        _make_out_of_place(node, gm, modules)
        kind, base = _classify(node, originals, tracer)
        if kind is None:
            continue
        n = used.get(base, 0)
        used[base] = n + 1
        name = base if n == 0 else f"{base}_{n}"
        names[node] = name
        module = originals.get(node.target) if node.op == "call_module" else None
        recorded.append(_Recorded(name, kind, module, str(node.target if node.op != "call_function"
                                                           else getattr(node.target, "__name__", node.target)),
                                  _input_names(node, names)))
        record_nodes.append(node)
    if output_node is None:  # pragma: no cover - fx always makes one
        raise RuntimeError("traced graph has no output")
    original_output = output_node.args[0]
    output_node.args = ((original_output, *record_nodes),)
    gm.recompile()
    return gm, recorded


def _classify(node: fx.Node, modules: dict[str, nn.Module], tracer: _ScopeTracer) -> tuple[str | None, str]:
    scope = node.meta.get("cnnviz_scope", "")
    if node.op == "call_module":
        module = modules.get(str(node.target))
        return (module_kind(module) if module is not None else "other"), str(node.target)
    if node.op == "call_function":
        if node.target in (getattr, operator.getitem) and not _feeds_tensor_op(node):
            return None, ""
        kind = _FUNCTION_KINDS.get(node.target, "other")
        op = getattr(node.target, "__name__", str(node.target)).strip("_")
        return kind, f"{scope}.{op}" if scope else op
    if node.op == "call_method":
        if node.target in _SKIP_METHODS:
            return None, ""
        method = str(node.target).rstrip("_")
        return _METHOD_KINDS.get(method, "other"), f"{scope}.{method}" if scope else method
    return None, ""  # get_attr: parameters and buffers are not stages


def _feeds_tensor_op(node: fx.Node) -> bool:
    """getitem on a tensor is a stage; getitem on a tuple of outputs (or a size) is plumbing."""
    source = node.args[0] if node.args else None
    return isinstance(source, fx.Node) and source.op in ("call_module", "call_function", "call_method") \
        and not (source.op == "call_method" and source.target in _SKIP_METHODS) and source.target is not getattr


def _input_names(node: fx.Node, names: dict[fx.Node, str]) -> tuple[str, ...]:
    found: list[str] = []
    pending = list(node.all_input_nodes)
    seen: set[fx.Node] = set()
    while pending:
        item = pending.pop(0)
        if item in seen:
            continue
        seen.add(item)
        if item in names:
            found.append(names[item])
        elif item.op != "get_attr":
            pending.extend(item.all_input_nodes)
    return tuple(dict.fromkeys(found))


def _make_out_of_place(node: fx.Node, gm: fx.GraphModule, modules: dict[str, nn.Module]) -> None:
    """Rewrite an in-place op on the traced copy so that earlier stage outputs survive."""
    if node.op == "call_module":
        target = str(node.target)
        module = modules.get(target)
        if module is not None and getattr(module, "inplace", False):
            replacement = copy.copy(module)
            replacement.inplace = False  # type: ignore[assignment]  # torch types Module attributes as Tensor | Module
            parent_name, _, child = target.rpartition(".")
            parent = gm.get_submodule(parent_name) if parent_name else gm
            setattr(parent, child, replacement)
            modules[target] = replacement
    elif node.op == "call_function":
        if node.target in _INPLACE_OPERATORS:
            node.target = _INPLACE_OPERATORS[node.target]
            return
        function = node.target
        if not callable(function):
            return
        try:
            bound = inspect.signature(function).bind(*node.args, **node.kwargs)
        except (TypeError, ValueError):
            return
        if bound.arguments.get("inplace") is True:
            bound.arguments["inplace"] = False
            node.args, node.kwargs = tuple(bound.args), dict(bound.kwargs)
    elif node.op == "call_method":
        name = str(node.target)
        if name.endswith("_") and not name.endswith("__") and hasattr(torch.Tensor, name[:-1]):
            node.target = name[:-1]


def _add_softmax(final: object, stages: list[Stage]) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """Classifier outputs get a ``softmax`` stage: the probabilities the bars show."""
    if not (isinstance(final, torch.Tensor) and final.dim() == 2 and final.is_floating_point()):
        return None, None
    last = stages[-1].name if stages else "input"
    if stages and stages[-1].kind == "softmax":
        return final, final
    probabilities = torch.softmax(final.float(), dim=1)
    stages.append(Stage("softmax", "softmax", probabilities, None, "softmax", (last,)))
    return final, probabilities


def _mismatch_message(exc: RuntimeError, x: torch.Tensor, stage: str | None) -> str:
    where, text = f"stage {stage} cannot take it" if stage else "a stage refused it", str(exc).strip()
    return f"The model cannot take an input of shape {tuple(x.shape[1:])}: {where} ({text.splitlines()[0][:200]})."


_CACHE: weakref.WeakKeyDictionary[nn.Module, Capturer] = weakref.WeakKeyDictionary()


def capturer_for(model: nn.Module) -> Capturer:
    """The cached :class:`Capturer` of a model (tracing happens once per model)."""
    if model not in _CACHE:
        _CACHE[model] = Capturer(model)
    return _CACHE[model]


def capture(model: nn.Module, x: torch.Tensor, *, grad: bool = False) -> Capture:
    """Run ``model`` on ``x`` (CxHxW or NxCxHxW) and return every stage in the order it ran."""
    return capturer_for(model)(x, grad=grad)
