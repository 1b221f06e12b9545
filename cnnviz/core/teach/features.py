"""Feature visualisation: the input that excites a channel most, found by gradient ascent on the input.

The method is Lucid's (Olah et al., "Feature Visualization", Distill 2017) in a few lines of torch, not
Lucent: Lucent is pre-alpha, has had no release since 2021, and assumes 3-channel ImageNet inputs, while
cnnviz needs grey digit models, any input size, its own normalisation and its own stage names. As there:

- the image is parameterised by its Fourier spectrum, scaled by 1/frequency so that every frequency
  learns at the same speed (decorrelated space: the ascent does not fill the picture with pixel noise),
  colour models' channels decorrelated with Lucid's ImageNet colour matrix;
- a sigmoid maps it to [0, 1] pixels, so the picture is always a valid image (grey models get grey
  images); the model sees it normalised with its own mean / std, exactly as preprocessing does;
- every step sees it through a small random transform (a shift of a few pixels, a little scale and
  rotation), so the result is not tuned to one pixel grid.

All the channels asked for are optimised together, one batch item each, each from its own random stream
(seeded by the channel), so a channel's picture does not depend on which others were asked for with it,
and results are cached per channel under the model's weights version: an edit or a training step moves
it on, and the next request computes afresh.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from cnnviz.core.engine.capture import Capture, Stage, capture, capturer_for, module_kind
from cnnviz.core.models.zoo import ModelSpec, spec_of
from cnnviz.core.teach.study_common import (
    CancelCheck,
    Cancelled,
    Progress,
    StudyError,
    check_channels,
    evaluating,
    image_grid,
    normalise,
    probe,
    stage_of,
    to_display,
    weights_version,
)

OBJECTIVES = ("channel", "neuron", "class")
#: Lucid's square root of ImageNet's colour correlation: RGB models' parameters are decorrelated colours.
_COLOUR = torch.tensor([[0.26, 0.09, 0.02], [0.27, 0.00, -0.05], [0.27, -0.09, 0.03]])
#: Below zero a ReLU passes no gradient: a channel dead for the starting picture would never wake, so the
#: ascent follows the ReLU's input with this slope below zero (the activation reported is the ReLU's).
_LEAK = 0.1
#: At most this many input values per batch (28x28 digits: every channel at once; 224x224 RGB: 27).
BATCH_VALUES = 1 << 22


@dataclass(frozen=True)
class FeatureSettings:
    """How the ascent runs; part of the cache key."""

    objective: str = "channel"  # channel: mean over positions; neuron: the centre position; class: a logit
    steps: int = 128
    lr: float = 0.05
    jitter: int | None = None  # largest shift in pixels; None: 1/14 of the input's side (2 px for 28x28)
    seed: int = 0

    def check(self) -> None:
        if self.objective not in OBJECTIVES:
            raise StudyError(f"Unknown objective '{self.objective}'; one of {', '.join(OBJECTIVES)}.")
        if not 1 <= self.steps <= 100_000:
            raise StudyError(f"{self.steps} steps is not between 1 and 100000.")


@dataclass(frozen=True)
class FeatureResult:
    """One optimised input per channel, in the order the channels were asked for."""

    stage: str
    objective: str
    channels: tuple[int, ...]
    inputs: torch.Tensor  # (K, C, H, W) float32 on the CPU: the model inputs, normalised, exactly as given
    pixels: np.ndarray  # (K, C, H, W) float32 in [0, 1]: the same inputs before normalisation
    activations: tuple[float, ...]  # the channel's mean activation at the stage for that exact input
    scores: tuple[float, ...]  # what was maximised: the mean, the centre neuron or the logit

    def index(self, channel: int) -> int:
        return self.channels.index(channel)

    def image(self, channel: int) -> np.ndarray:
        """The channel's input as a uint8 picture (grey (H, W) or RGB (H, W, 3))."""
        return to_display(self.pixels[self.index(channel)])

    def grid(self, tile: int | None = None) -> np.ndarray:
        """Every channel's picture in one RGB grid (in the order of ``channels``)."""
        return image_grid([self.image(c) for c in self.channels], tile=tile)


#: model -> {(weights version, stage, settings, channel): (input, pixels, activation, score)}; keyed weakly
#: so results go with their model.
_CACHE: weakref.WeakKeyDictionary[nn.Module, dict[tuple, tuple]] = weakref.WeakKeyDictionary()
MAX_CACHED_VALUES = 1 << 25  # input values kept per model (x2 with the pixels: about 256 MB)


def visualise(model: nn.Module, stage: str | None, channels: Sequence[int] | None = None,
              settings: FeatureSettings = FeatureSettings(), progress: Progress | None = None,
              cancelled: CancelCheck | None = None) -> FeatureResult:
    """The input that maximises each channel of ``stage`` (all channels for None), or each class's logit
    (objective ``class``: ``stage`` is ignored, the channels are classes). Raises :class:`Cancelled` when
    ``cancelled()`` says so between two steps."""
    settings.check()
    spec = spec_of(model)
    blank = probe(model, spec)
    stage, count = _target(blank, stage, settings.objective)
    chosen = check_channels(channels, count, stage)
    version = weights_version(model)
    store = _CACHE.get(model)
    if store is None:
        store = _CACHE[model] = {}
    keys = {c: (version, stage, settings, c) for c in chosen}
    found = {c: store[keys[c]] for c in chosen if keys[c] in store}
    todo = [c for c in chosen if c not in found]
    batch = max(1, BATCH_VALUES // math.prod(spec.input_shape))
    for start in range(0, len(todo), batch):
        part = todo[start:start + batch]
        entries = _optimise(model, spec, stage, part, settings, progress, cancelled, start, len(todo))
        found.update(zip(part, entries, strict=True))
        for key in [k for k in store if k[0] != version]:  # an edit: the old version's pictures are gone
            del store[key]
        if sum(entry[0].numel() for entry in store.values()) > MAX_CACHED_VALUES:
            store.clear()  # (ResNet-50's 2,048 layer4 pictures alone are 300 M values)
        store.update({keys[c]: entry for c, entry in zip(part, entries, strict=True)})
    rows = [found[c] for c in chosen]
    return FeatureResult(stage, settings.objective, chosen, torch.stack([r[0] for r in rows]),
                         np.stack([r[1] for r in rows]), tuple(r[2] for r in rows), tuple(r[3] for r in rows))


def _target(blank: Capture, stage: str | None, objective: str) -> tuple[str, int]:
    """The stage optimised and its number of channels (for ``class``: the logits' stage and the classes)."""
    if objective == "class":
        if blank.logits is None:
            raise StudyError("This model gives no class scores (logits) to maximise; use --objective channel.")
        name = next((s.name for s in reversed(blank.stages) if s.output is blank.logits), None)
        if name is None:  # (hooks copy outputs: the last stage before the softmax capture adds)
            name = [s.name for s in blank.stages if s.module is not None or s.name != "softmax"][-1]
        return name, int(blank.logits.shape[1])
    if stage is None:
        raise StudyError("Give the stage whose channels to visualise (e.g. --stage conv2).")
    output = stage_of(blank, stage)
    if objective == "neuron" and output.dim() != 4:
        raise StudyError(f"Stage '{stage}' has no positions (it is a vector); use --objective channel.")
    return stage, int(output.shape[1])


def _scale(height: int, width: int, device: torch.device) -> torch.Tensor:
    """1/frequency (Lucid's ``fft_image``): low frequencies get larger steps than pixel noise."""
    fy = np.fft.fftfreq(height)[:, None]
    fx = np.fft.rfftfreq(width)[None, :]
    freqs = np.sqrt(fx * fx + fy * fy)
    return torch.tensor(1.0 / np.maximum(freqs, 1.0 / max(height, width)), dtype=torch.float32, device=device)


def _pixels(spectrum: torch.Tensor, scale: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Spectrum parameters (K, C, H, W//2+1, 2) -> pixels (K, C, H, W) in (0, 1)."""
    image = torch.fft.irfft2(torch.view_as_complex(spectrum) * scale, s=(height, width), norm="ortho") / 4.0
    if image.shape[1] == 3:
        colour = (_COLOUR / _COLOUR.norm(dim=0).max()).to(image.device)
        image = torch.einsum("ij,kjhw->kihw", colour, image)
    return torch.sigmoid(image)


def _transforms(generators: list[torch.Generator], jitter: float, height: int, width: int) -> torch.Tensor:
    """One random affine transform per item: a shift up to ``jitter`` pixels, scale 0.95..1.05, +-5 degrees."""
    theta = []
    for generator in generators:
        u = torch.rand(4, generator=generator) * 2 - 1
        scale = 1.0 + 0.05 * float(u[0])
        angle = math.radians(5.0) * float(u[1])
        cos, sin = math.cos(angle) / scale, math.sin(angle) / scale
        theta.append([[cos, -sin, float(u[2]) * 2 * jitter / width], [sin, cos, float(u[3]) * 2 * jitter / height]])
    return torch.tensor(theta, dtype=torch.float32)


def _objective(result: Capture, stage: str, indices: torch.Tensor, objective: str, ascent: bool) -> torch.Tensor:
    """What is maximised, one value per item; with ``ascent``, a ReLU stage is followed through its input."""
    items = torch.arange(len(indices), device=indices.device)
    if objective == "class":
        assert result.logits is not None
        return result.logits[items, indices]
    found = result.by_name(stage)
    output = found.output
    if ascent and found.kind == "relu" and len(found.inputs) == 1 and found.inputs[0] in result.names:
        output = F.leaky_relu(result.by_name(found.inputs[0]).output, _LEAK)
    picked = output[items, indices]
    if picked.dim() == 1:
        return picked
    if objective == "neuron":
        return picked[:, picked.shape[1] // 2, picked.shape[2] // 2]
    return picked.mean(dim=(1, 2))


def _optimise(model: nn.Module, spec: ModelSpec, stage: str, channels: list[int], settings: FeatureSettings,
              progress: Progress | None, cancelled: CancelCheck | None, done: int, total: int) -> list[tuple]:
    c, height, width = spec.input_shape
    device = next(iter(model.parameters()), torch.zeros(0)).device
    generators = [torch.Generator().manual_seed(settings.seed * 1_000_003 + ch) for ch in channels]
    start = torch.stack([torch.randn((c, height, width // 2 + 1, 2), generator=g) * 0.01 for g in generators])
    spectrum = start.to(device).requires_grad_(True)
    scale = _scale(height, width, device)
    indices = torch.tensor(channels, device=device)
    jitter = settings.jitter if settings.jitter is not None else max(1.0, min(height, width) / 14)
    optimiser = torch.optim.Adam([spectrum], lr=settings.lr)
    steps = settings.steps
    with evaluating(model), torch.enable_grad():
        for step in range(steps):
            if cancelled is not None and cancelled():
                raise Cancelled
            pixels = _pixels(spectrum, scale, height, width)
            theta = _transforms(generators, jitter, height, width).to(device)
            grid = F.affine_grid(theta, list(pixels.shape), align_corners=False)
            seen = F.grid_sample(pixels, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
            value = _objective(_with_grad(model, normalise(seen, spec)), stage, indices, settings.objective,
                               ascent=True)
            (gradient,) = torch.autograd.grad(-value.sum(), [spectrum])
            spectrum.grad = gradient
            optimiser.step()
            if progress is not None:
                progress(done * steps + (step + 1) * len(channels), total * steps)
        with torch.no_grad():
            pixels = _pixels(spectrum, scale, height, width).detach()
            inputs = normalise(pixels, spec)
            final = capture(model, inputs)
            scores = _objective(final, stage, indices, settings.objective, ascent=False)
            activations = _mean_activation(final, stage, indices)
    return [(inputs[k].cpu().contiguous(), pixels[k].cpu().numpy(), float(activations[k]), float(scores[k]))
            for k in range(len(channels))]


def _with_grad(model: nn.Module, x: torch.Tensor) -> Capture:
    """Every stage with its gradient path: the traced capture keeps it; for a model torch.fx cannot trace,
    capture's hooks copy detached outputs, so hooks that keep them are used here, named as capture names
    them (a module called twice: ``name``, ``name_1``)."""
    if capturer_for(model).traced:
        return capture(model, x, grad=True)
    stages: list[Stage] = []
    counts: dict[str, int] = {}

    def hook(name: str) -> Callable:
        def fire(module: nn.Module, _inputs: tuple, output: object) -> None:
            if isinstance(output, torch.Tensor):
                n = counts[name] = counts.get(name, -1) + 1
                previous = stages[-1].name if stages else "input"
                stages.append(Stage(name if n == 0 else f"{name}_{n}", module_kind(module), output, module, name,
                                    (previous,)))
        return fire

    handles = [module.register_forward_hook(hook(name)) for name, module in model.named_modules()
               if name and not any(True for _ in module.children())]
    try:
        final = model(x)
    finally:
        for handle in handles:
            handle.remove()
    logits = final if isinstance(final, torch.Tensor) and final.dim() == 2 else None
    return Capture(x, stages, logits, None, traced=False)


def _mean_activation(result: Capture, stage: str, indices: torch.Tensor) -> torch.Tensor:
    """The channel's mean over positions (the value itself for a vector stage), one per item."""
    output = stage_of(result, stage)
    picked = output[torch.arange(len(indices), device=indices.device), indices]
    return picked if picked.dim() == 1 else picked.mean(dim=(1, 2))


def mean_activation(model: nn.Module, inputs: torch.Tensor, stage: str, channel: int) -> torch.Tensor:
    """The channel's mean activation at ``stage`` for each of ``inputs`` (N, C, H, W), by a plain capture."""
    with torch.no_grad():
        output = stage_of(capture(model, inputs), stage)[:, channel]
    return output if output.dim() == 1 else output.mean(dim=(1, 2))
