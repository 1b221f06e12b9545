"""Batched augmentation on tensors, so drawn digits look like the training data.

Digits drawn with a mouse are slanted, off-centre, thicker or thinner than MNIST's:
a small random affine (rotation, shift, scale, shear) and a random stroke-thickness
change (dilation or erosion by max-pooling) per sample, all on the training device.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def random_affine(x: torch.Tensor, generator: torch.Generator, rotate_deg: float = 12.0, shift: float = 0.1,
                  scale: tuple[float, float] = (0.85, 1.1), shear_deg: float = 10.0) -> torch.Tensor:
    """A different small affine warp for every image of a batch (N, C, H, W)."""
    n = x.shape[0]

    def uniform(low: float, high: float) -> torch.Tensor:
        return torch.rand(n, generator=generator, device=generator.device) * (high - low) + low

    angle = uniform(-rotate_deg, rotate_deg) * math.pi / 180
    shear = uniform(-shear_deg, shear_deg) * math.pi / 180
    s = uniform(*scale)
    tx, ty = uniform(-shift, shift) * 2, uniform(-shift, shift) * 2
    cos, sin, tan = torch.cos(angle), torch.sin(angle), torch.tan(shear)
    theta = torch.stack([
        torch.stack([cos / s, (-sin + cos * tan) / s, tx], dim=1),
        torch.stack([sin / s, (cos + sin * tan) / s, ty], dim=1),
    ], dim=1).to(x.device, x.dtype)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def random_thickness(x: torch.Tensor, generator: torch.Generator, p: float = 0.4) -> torch.Tensor:
    """Thicken (dilate) or thin (erode) the strokes of a random part of the batch; ink is bright."""
    n = x.shape[0]
    choice = torch.rand(n, generator=generator, device=generator.device).to(x.device)
    dilated = F.max_pool2d(x, 3, stride=1, padding=1)
    eroded = -F.max_pool2d(-x, 2, stride=1, padding=1)[..., :x.shape[-2], :x.shape[-1]]
    eroded = torch.maximum(eroded, 0.5 * x)  # never erase a thin stroke entirely
    out = torch.where((choice < p / 2).view(-1, 1, 1, 1), dilated, x)
    return torch.where(((choice >= p / 2) & (choice < p)).view(-1, 1, 1, 1), eroded, out)


def augment_digits(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Pixels in [0, 1], ink bright: affine warp, then stroke thickness."""
    return random_thickness(random_affine(x, generator), generator)


def augment_fashion(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Mirror images half of the time and shift them slightly: clothes are left-right symmetric."""
    n = x.shape[0]
    flip = (torch.rand(n, generator=generator, device=generator.device) < 0.5).to(x.device).view(-1, 1, 1, 1)
    x = torch.where(flip, x.flip(-1), x)
    return random_affine(x, generator, rotate_deg=0.0, shift=0.06, scale=(1.0, 1.0), shear_deg=0.0)
