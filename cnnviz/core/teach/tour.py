"""A guided tour of a network: one step per stage, with a caption written for a learner.

Every number in a caption (shapes, filter sizes, parameter counts) comes from a real
capture of the model, the same one ``cnnviz summary`` prints, so the tour cannot drift
from the model on screen.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import torch
from torch import nn

from cnnviz.core.engine.capture import Stage, capture


@dataclass(frozen=True)
class TourStep:
    stage: str  # the stage's name in the capture ('' for the closing softmax step of a model without one)
    kind: str
    title: str
    caption: str
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    params: int


def _shape(shape: tuple[int, ...]) -> str:
    """(6, 24, 24) -> '6 maps of 24x24'; (120,) -> '120 numbers'."""
    if len(shape) == 3:
        c, h, w = shape
        return f"{c} map{'s' if c != 1 else ''} of {h}x{w}"
    if len(shape) == 1:
        return f"{shape[0]:,} numbers"
    return "x".join(map(str, shape))


def _pair(value: object) -> tuple[int, int]:
    """A module's kernel_size, stride or padding (an int or a tuple of one or two ints) as (y, x)."""
    if isinstance(value, int):
        return value, value
    if not isinstance(value, Iterable):
        raise TypeError(f"expected an int or a tuple of ints, not {value!r}")
    values = tuple(int(v) for v in value)
    return (values[0], values[0]) if len(values) == 1 else (values[0], values[1])


def _size(pair: tuple[int, int]) -> str:
    return f"{pair[0]}x{pair[1]}"


def _params(stage: Stage) -> int:
    if stage.module is None:
        return 0
    return sum(p.numel() for p in stage.module.parameters(recurse=False))


def _conv(stage: Stage, inp: tuple[int, ...], params: int) -> str:
    m = stage.module
    out = stage.shape
    if not isinstance(m, nn.Conv2d):
        return f"{stage.name}: a convolution turns {_shape(inp)} into {_shape(out)}; {params:,} parameters."
    k = _pair(m.kernel_size)
    where = f"the {_size(inp[1:])} input" if len(inp) == 3 else "the input"
    depth = f" (each {m.in_channels // m.groups} deep, one slice per input map)" if m.in_channels > 1 else ""
    text = (f"{stage.name}: {m.out_channels} filters of {_size(k)}{depth} slide over {where} "
            f"-> {_shape(out)}; {params:,} parameters")
    per_filter = (m.in_channels // m.groups) * k[0] * k[1]
    bias = " + 1 bias" if m.bias is not None else ""
    text += f" ({m.out_channels} x ({per_filter} weights{bias}))."
    notes = []
    stride, padding = _pair(m.stride), m.padding
    if stride != (1, 1):
        notes.append(f"a stride of {stride[0]} moves each filter {stride[0]} pixels at a time, so the maps shrink")
    if isinstance(padding, str):
        notes.append(f"padding '{padding}'")
    elif _pair(padding) != (0, 0):
        pad = _pair(padding)[0]
        notes.append(f"{pad} pixel{'s' if pad != 1 else ''} of zero padding around the input keep the border")
    elif k != (1, 1) and stride == (1, 1) and len(inp) == 3:
        notes.append(f"without padding a {_size(k)} filter fits {k[0] - 1} fewer positions, so the maps lose "
                     f"{k[0] - 1} pixels")
    text += " Each output pixel is the sum of a filter times the patch under it, plus its bias: bright where the " \
            "input looks like the filter."
    if notes:
        text += " " + "; ".join(notes).capitalize() + "."
    return text


def _pool(stage: Stage, inp: tuple[int, ...]) -> str:
    m = stage.module
    out = stage.shape
    if isinstance(m, (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)) or m is None and out[-2:] == (1, 1):
        how = "averages" if not isinstance(m, nn.AdaptiveMaxPool2d) else "takes the largest value of"
        return (f"{stage.name}: {how} each whole map, {_shape(inp)} -> {_shape(out)}. What remains says how strongly "
                "each feature appeared anywhere in the image, no longer where.")
    kind = "the largest value" if isinstance(m, (nn.MaxPool2d, nn.AdaptiveMaxPool2d)) else "the average"
    window = f"each {_size(_pair(m.kernel_size))} window" if m is not None and hasattr(m, "kernel_size") else "windows"
    stride = f", stride {_pair(m.stride)[0]}" if m is not None and getattr(m, "stride", None) else ""
    return (f"{stage.name}: keeps {kind} of {window}{stride}: {_shape(inp)} -> {_shape(out)}; no parameters. "
            "Pooling shrinks the maps so that later filters see a wider part of the image for the same cost, and a "
            "feature that moves by a pixel still gives the same answer.")


def _linear(stage: Stage, inp: tuple[int, ...], params: int, last: bool, classes: int) -> str:
    m = stage.module
    n_in = m.in_features if isinstance(m, nn.Linear) else (inp[0] if inp else 0)
    n_out = stage.shape[0] if stage.shape else 0
    text = (f"{stage.name}: every one of the {n_in:,} inputs is connected to each of the {n_out:,} outputs "
            f"(a weight per connection, a bias per output): {params:,} parameters.")
    if last:
        text += (f" These {classes} numbers are the scores (logits) of the classes; the largest one wins, "
                 "softmax turns them into probabilities.")
    return text


def _caption(stage: Stage, inp: tuple[int, ...], last_linear: bool, classes: int) -> tuple[str, str]:
    params = _params(stage)
    out = stage.shape
    kind = stage.kind
    if kind == "conv":
        return "Convolution", _conv(stage, inp, params)
    if kind == "relu":
        return "ReLU", (f"{stage.name}: sets every negative value to zero and keeps the positive ones "
                        f"({_shape(out)}, no parameters). Without it, all the layers together would be one linear "
                        "filter; with it the network can combine features. What a channel here responds to in "
                        "general: click its map and open View > What it looks for (Ctrl+L).")
    if kind == "activation":
        name = type(stage.module).__name__ if stage.module is not None else stage.target
        return "Activation", f"{stage.name}: the non-linearity {name} applied to every value ({_shape(out)})."
    if kind == "pool":
        return "Pooling", _pool(stage, inp)
    if kind == "norm":
        return "Normalisation", (f"{stage.name}: shifts and scales each map to a steady range (learned scale and "
                                 f"shift per channel: {params:,} parameters). It makes training faster; the shapes "
                                 f"stay {_shape(out)}.")
    if kind == "add":
        return "Skip connection", (f"{stage.name}: adds the block's input to what its convolutions computed "
                                   f"({_shape(out)}). This skip connection lets the block learn only a correction, "
                                   "and lets the training signal flow back through very deep networks.")
    if kind in ("flatten", "reshape"):
        return "Flatten", (f"{stage.name}: lines up the {_shape(inp)} as one row of {_shape(out)}, so that the "
                           "fully connected layers can look at all of them at once. Nothing is computed.")
    if kind == "linear":
        return "Fully connected", _linear(stage, inp, params, last_linear, classes)
    if kind == "dropout":
        return "Dropout", (f"{stage.name}: during training it switches off random values so the network cannot rely "
                           "on any single one; while you look at it (evaluation) it passes everything through.")
    if kind == "softmax":
        return "Softmax", softmax_caption(stage.name, classes)
    if kind == "concat":
        return "Concatenate", f"{stage.name}: stacks maps from several branches into {_shape(out)}."
    if kind == "identity":
        return "Identity", f"{stage.name}: passes its input through unchanged ({_shape(out)})."
    return "Operation", f"{stage.name}: {stage.target or kind} -> {_shape(out)}; {params:,} parameters."


def softmax_caption(name: str, classes: int) -> str:
    return (f"{name}: turns the {classes} scores into probabilities: each score is raised as e^score and divided by "
            "the sum, so all are between 0 and 1 and add up to 1. A score only a little larger than the others "
            "becomes a much larger probability.")


def tour(model: nn.Module, input_shape: tuple[int, ...], classes: int | None = None) -> list[TourStep]:
    """One step per captured stage of ``model`` on an input of ``input_shape`` (C, H, W), plus a closing
    softmax step when the model outputs raw scores."""
    param = next(model.parameters(), None)
    device = param.device if param is not None else torch.device("cpu")
    with torch.no_grad():
        result = capture(model, torch.zeros((1, *input_shape), device=device))
    stages = list(result)
    shapes: dict[str, tuple[int, ...]] = {"input": tuple(input_shape)}
    last_linear = next((s.name for s in reversed(stages) if s.kind == "linear"), None)
    n_classes = classes if classes is not None else (stages[-1].shape[0] if stages and stages[-1].shape else 0)
    steps = []
    for stage in stages:
        source = stage.inputs[0] if stage.inputs else "input"
        inp = shapes.get(source, ())
        shapes[stage.name] = stage.shape
        title, caption = _caption(stage, inp, stage.name == last_linear, n_classes)
        steps.append(TourStep(stage.name, stage.kind, title, caption, inp, stage.shape, _params(stage)))
    if stages and stages[-1].kind != "softmax":
        steps.append(TourStep("", "softmax", "Softmax", softmax_caption("softmax", n_classes), stages[-1].shape,
                              stages[-1].shape, 0))
    intro = (f"The input: {_shape(tuple(input_shape))}. Each step below is one stage of the network, in the order "
             "the data flows through it.")
    return [TourStep("input", "input", "Input", intro, (), tuple(input_shape), 0), *steps]
