"""Adversarial inputs: FGSM and PGD from Captum's ``captum.robust``, untargeted or towards a class.

Epsilon is an L-infinity bound in the pixel units of the model's input ([0, 1], before the model's
mean / std): the attacks run on a wrapper that takes pixels and normalises them for the model, with
Captum's bounds at 0 and 1, so every adversarial pixel is valid and no pixel moves more than epsilon.
PGD runs one Captum step at a time (its documented ``bound`` hook projects onto the epsilon ball around
the clean pixels and onto [0, 1], exactly as one ``perturb`` call with all the steps does), so a worker
can report progress and stop between steps.

Public API (no Qt):

- ``attack(model, x, method="pgd", eps=0.1, steps=None, target=None, *, step_size=None, progress=None,
  cancelled=None) -> AttackResult`` for one model input ``x`` (C, H, W, normalised, as the frames use);
  ``attack_batch(...)`` does the same for (N, C, H, W) in one run and returns one result per input.
- ``AttackResult``: ``input`` and ``adversarial`` (C, H, W) exactly as given to the model; ``pixels``,
  ``adversarial_pixels`` and ``perturbation`` (adversarial - clean) in pixel units; ``before`` / ``after``
  probability vectors, ``class_before`` / ``class_after``, ``prob_before`` / ``prob_after``, ``flipped``,
  ``reached`` (the target, when there is one), ``to_json()``.
- ``adversarial_picture(result)`` (uint8 grey or RGB) and ``perturbation_picture(result, scale)`` (the
  perturbation on the diverging map, +-eps at its ends: amplified 1 / eps times).
- ``resolve_class(class_names, text) -> int``: a class given by name or index.

``progress(fraction, message)`` gets 0..1 after each step; ``cancelled()`` returning True stops the attack
with :class:`AttackCancelledError`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from cnnviz.core.engine.render import colormap
from cnnviz.core.errors import CnnvizError
from cnnviz.core.models.zoo import spec_of

METHODS = ("fgsm", "pgd")
DEFAULT_EPS = 0.1
DEFAULT_STEPS = 20

Progress = Callable[[float, str], None]
Cancelled = Callable[[], bool]


class AttackError(CnnvizError):
    """An attack that cannot run as asked (epsilon outside 0..1, a target that is not a class, ...)."""


class AttackCancelledError(CnnvizError):
    """The user stopped the attack."""


@dataclass(frozen=True, eq=False)
class AttackResult:
    input: torch.Tensor  # (C, H, W) as given to the model (normalised)
    adversarial: torch.Tensor  # (C, H, W) as given to the model (normalised)
    pixels: torch.Tensor  # (C, H, W) the clean input in pixel units, [0, 1]
    adversarial_pixels: torch.Tensor  # (C, H, W) in [0, 1]
    perturbation: torch.Tensor  # adversarial_pixels - pixels, |.| <= eps
    before: tuple[float, ...]  # class probabilities for ``input``
    after: tuple[float, ...]  # and for ``adversarial``
    method: str
    eps: float
    steps: int
    step_size: float
    target: int | None
    class_names: tuple[str, ...]

    @property
    def class_before(self) -> int:
        return int(np.argmax(self.before))

    @property
    def class_after(self) -> int:
        return int(np.argmax(self.after))

    @property
    def prob_before(self) -> float:
        return self.before[self.class_before]

    @property
    def prob_after(self) -> float:
        return self.after[self.class_after]

    @property
    def flipped(self) -> bool:
        return self.class_after != self.class_before

    @property
    def reached(self) -> bool:
        """Untargeted: the class changed; targeted: the model now says the target."""
        return self.flipped if self.target is None else self.class_after == self.target

    @property
    def linf(self) -> float:
        return float(self.perturbation.abs().max()) if self.perturbation.numel() else 0.0

    def name(self, index: int) -> str:
        return self.class_names[index] if 0 <= index < len(self.class_names) else f"class {index}"

    def to_json(self) -> dict:
        def side(probs: tuple[float, ...], index: int) -> dict:
            return {"class": index, "name": self.name(index), "probability": round(probs[index], 6)}

        out = {"method": self.method, "eps": self.eps, "steps": self.steps, "step_size": round(self.step_size, 6),
               "target": self.target, "before": side(self.before, self.class_before),
               "after": side(self.after, self.class_after), "linf": round(self.linf, 6), "flipped": self.flipped}
        if self.target is not None:
            out["target_probability"] = round(self.after[self.target], 6)
        return out


def resolve_class(class_names: Sequence[str], text: str | int) -> int:
    """A class by name (as the model names it) or by index."""
    names = list(class_names)
    if isinstance(text, str) and text in names:
        return names.index(text)
    try:
        index = int(text)
    except (TypeError, ValueError):
        raise AttackError(f"'{text}' is not a class of this model; give a name or an index 0..{len(names) - 1}.") \
            from None
    if not 0 <= index < len(names):
        raise AttackError(f"Class {index} is out of range; this model has classes 0..{len(names) - 1}.")
    return index


def _check_options(method: str, eps: float, steps: int, step_size: float | None, target: int | None,
                   classes: int) -> tuple[int, float]:
    if method not in METHODS:
        raise AttackError(f"Unknown attack '{method}'; one of {', '.join(METHODS)}.")
    if not 0.0 <= eps <= 1.0:  # also refuses nan
        raise AttackError(f"Epsilon {eps} is outside 0..1; it is measured in the input's pixel units (0 to 1).")
    if steps < 1:
        raise AttackError(f"{steps} steps: an attack needs at least 1.")
    if target is not None and not 0 <= target < classes:
        raise AttackError(f"Target class {target} is out of range; this model has classes 0..{classes - 1}.")
    if method == "fgsm":
        return 1, eps
    alpha = min(eps, 2.5 * eps / steps) if step_size is None else step_size
    if not 0.0 <= alpha <= eps:
        raise AttackError(f"A PGD step of {alpha} must be between 0 and epsilon ({eps}).")
    return steps, alpha


def margin_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Per input: the best other class's logit minus the label's (Carlini and Wagner's margin). Untargeted,
    Captum climbs it (the label loses); targeted, it descends it (the target wins). Not the cross-entropy:
    its gradient, softmax - one-hot, vanishes on inputs the model is sure of (below Captum's threshold of
    1e-6, so FGSM and PGD left about a third of the shipped digits untouched)."""
    logits = logits.float()
    own = logits.gather(1, labels[:, None])[:, 0]
    others = logits.masked_fill(F.one_hot(labels, logits.shape[1]).bool(), float("-inf"))
    return others.max(1).values - own


def attack_batch(model: nn.Module, x: torch.Tensor, method: str = "pgd", eps: float = DEFAULT_EPS,
                 steps: int | None = None, target: int | None = None, *, step_size: float | None = None,
                 progress: Progress | None = None, cancelled: Cancelled | None = None) -> list[AttackResult]:
    """Attack every input of ``x`` (N, C, H, W, normalised) at once; one result each."""
    from captum.robust import FGSM, PGD

    spec = spec_of(model)
    steps, alpha = _check_options(method, float(eps), DEFAULT_STEPS if steps is None else int(steps), step_size,
                                  target, len(spec.class_names))
    param = next(model.parameters(), None)
    device = param.device if param is not None else torch.device("cpu")
    model.eval()

    def forward(pixels: torch.Tensor) -> torch.Tensor:
        return model((pixels - mean) / std)

    def loss(outputs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return margin_loss(outputs, labels)

    # (a worker may call this under torch.inference_mode: every tensor the gradients meet is made in here)
    with torch.inference_mode(False), torch.enable_grad():
        mean = torch.tensor(spec.mean, dtype=torch.float32, device=device).view(1, -1, 1, 1)
        std = torch.tensor(spec.std, dtype=torch.float32, device=device).view(1, -1, 1, 1)
        clean = x.detach().to(device, torch.float32).clone()
        with torch.no_grad():
            before = torch.softmax(model(clean).float(), 1)
        if before.dim() != 2:
            raise AttackError(f"{spec.name} does not output class scores, so there is no class to change.")
        pixels = (clean * std + mean).clamp(0.0, 1.0).detach()
        labels = before.argmax(1) if target is None else torch.full_like(before.argmax(1), target)
        targeted = target is not None
        # Inputs handed to Captum already require gradients, so it has nothing to warn about (a fileio.quiet
        # section would hold its one lock for the whole attack: seconds for a large network).
        if method == "fgsm":
            _check(cancelled)
            adv = FGSM(forward, loss, lower_bound=0.0, upper_bound=1.0).perturb(
                pixels.clone().requires_grad_(), eps, labels, targeted=targeted)
            _report(progress, 1.0, "FGSM step done")
        else:
            pgd = PGD(forward, loss, lower_bound=0.0, upper_bound=1.0)
            # the projection one PGD call makes after every step, onto the ball around the clean pixels
            pgd.bound = lambda p: torch.clamp(pixels + torch.clamp(p - pixels, -eps, eps), 0.0, 1.0)
            adv = pixels
            for i in range(steps):
                _check(cancelled)
                adv = pgd.perturb(adv.clone().requires_grad_(), radius=eps, step_size=alpha, step_num=1,
                                  target=labels, targeted=targeted)
                _report(progress, (i + 1) / steps, f"PGD step {i + 1} of {steps}")
        adv = adv.detach()
        adversarial = (adv - mean) / std
        with torch.no_grad():
            after = torch.softmax(model(adversarial).float(), 1)
    names = tuple(spec.class_names)
    out = []
    for i in range(len(clean)):
        out.append(AttackResult(clean[i].cpu(), adversarial[i].cpu(), pixels[i].cpu(), adv[i].cpu(),
                                (adv[i] - pixels[i]).cpu(), tuple(before[i].cpu().tolist()),
                                tuple(after[i].cpu().tolist()), method, float(eps), steps, float(alpha), target,
                                names))
    return out


def attack(model: nn.Module, x: torch.Tensor, method: str = "pgd", eps: float = DEFAULT_EPS,
           steps: int | None = None, target: int | None = None, *, step_size: float | None = None,
           progress: Progress | None = None, cancelled: Cancelled | None = None) -> AttackResult:
    """Attack one model input ``x`` (C, H, W, normalised with the model's mean / std)."""
    if x.dim() != 3:
        raise AttackError(f"An input of shape {tuple(x.shape)} is not one C x H x W image.")
    return attack_batch(model, x[None], method, eps, steps, target, step_size=step_size, progress=progress,
                        cancelled=cancelled)[0]


def _check(cancelled: Cancelled | None) -> None:
    if cancelled is not None and cancelled():
        raise AttackCancelledError("The attack was stopped.")


def _report(progress: Progress | None, fraction: float, message: str) -> None:
    if progress is not None:
        progress(fraction, message)


def _to_image(pixels: torch.Tensor) -> np.ndarray:
    array = np.round(pixels.detach().float().clamp(0, 1).cpu().numpy() * 255).astype(np.uint8)
    return array[0] if array.shape[0] == 1 else np.ascontiguousarray(array.transpose(1, 2, 0))


def adversarial_picture(result: AttackResult) -> np.ndarray:
    """The adversarial input as an image: uint8 (H, W) for one channel, (H, W, 3) RGB otherwise."""
    return _to_image(result.adversarial_pixels)


def clean_picture(result: AttackResult) -> np.ndarray:
    return _to_image(result.pixels)


def perturbation_picture(result: AttackResult, scale: int = 1) -> np.ndarray:
    """uint8 RGB: the perturbation (mean over channels) on the diverging map, -eps blue, 0 white, +eps red."""
    delta = result.perturbation.detach().float().mean(0).cpu().numpy()
    amplified = delta / result.eps if result.eps > 0 else np.zeros_like(delta)
    index = np.round((np.clip(amplified, -1, 1) + 1) * 127.5).astype(np.uint8)
    rgb = colormap("diverging")[index]
    if scale > 1:
        rgb = np.repeat(np.repeat(rgb, scale, axis=0), scale, axis=1)
    return np.ascontiguousarray(rgb)
