"""Training's data augmentation: shape and range kept, the pictures changed.

Whole training runs go through the command: tests/cli/test_train_command.py."""

from __future__ import annotations

import torch

from cnnviz.core.data.augment import augment_digits, augment_fashion
from cnnviz.core.data.datasets import load_samples


def test_augmentation_keeps_shape_and_range():
    generator = torch.Generator().manual_seed(0)
    x = torch.from_numpy(load_samples("mnist").images[:32]).float().div(255).unsqueeze(1)
    for augment in (augment_digits, augment_fashion):
        y = augment(x, generator)
        assert y.shape == x.shape and float(y.min()) >= 0.0 and float(y.max()) <= 1.0 + 1e-5
        assert not torch.equal(x, y)
