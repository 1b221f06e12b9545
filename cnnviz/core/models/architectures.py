"""The teaching architectures, layer for layer as the lessons that use them describe them.

Each is a plain ``nn.Sequential`` of named stages, so that stage names in the app read
like the lesson (``conv1``, ``relu1``, ``pool1``, ...). Activations are not in-place,
so the conv output a student looks at is the one the conv produced.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable

from torch import nn


def _seq(*layers: tuple[str, nn.Module]) -> nn.Sequential:
    return nn.Sequential(OrderedDict(layers))


def _two_conv_net(in_channels: int, num_classes: int, padding: int, flat: int) -> nn.Sequential:
    """LeNet's shape: two [conv 5x5 -> ReLU -> max-pool 2] blocks, then flat -> 120 -> 84 -> classes."""
    return _seq(
        ("conv1", nn.Conv2d(in_channels, 6, 5, padding=padding)),
        ("relu1", nn.ReLU()),
        ("pool1", nn.MaxPool2d(2)),
        ("conv2", nn.Conv2d(6, 16, 5)),
        ("relu2", nn.ReLU()),
        ("pool2", nn.MaxPool2d(2)),
        ("flatten", nn.Flatten()),
        ("fc1", nn.Linear(flat, 120)),
        ("relu3", nn.ReLU()),
        ("fc2", nn.Linear(120, 84)),
        ("relu4", nn.ReLU()),
        ("fc3", nn.Linear(84, num_classes)),
    )


def lenet5(num_classes: int = 10, in_channels: int = 1) -> nn.Sequential:
    """LeNet-5 adapted to 28x28 digits: padding 2 on conv1 stands in for the original 32x32 input."""
    return _two_conv_net(in_channels, num_classes, padding=2, flat=16 * 5 * 5)


def mnist_cnn(num_classes: int = 10, in_channels: int = 1) -> nn.Sequential:
    """Three [conv 3x3 -> ReLU -> max-pool -> dropout] blocks (32, 64, 128), then 2048 -> 625 -> 10.

    The third pool pads by 1 so that 7x7 becomes 4x4 (128 * 4 * 4 = 2048).
    """
    layers: list[tuple[str, nn.Module]] = []
    channels = [in_channels, 32, 64, 128]
    for block in range(3):
        i = block + 1
        layers += [
            (f"conv{i}", nn.Conv2d(channels[block], channels[block + 1], 3, padding=1)),
            (f"relu{i}", nn.ReLU()),
            (f"pool{i}", nn.MaxPool2d(2, padding=1 if block == 2 else 0)),
            (f"dropout{i}", nn.Dropout(0.3)),
        ]
    layers += [
        ("flatten", nn.Flatten()),
        ("fc1", nn.Linear(128 * 4 * 4, 625)),
        ("relu4", nn.ReLU()),
        ("dropout4", nn.Dropout(0.3)),
        ("fc2", nn.Linear(625, num_classes)),
    ]
    return _seq(*layers)


def frnet(num_classes: int = 2, in_channels: int = 1) -> nn.Sequential:
    """The radio-galaxy (FRI/FRII) classifier: 150x150 grey input, no padding, 18496 -> 120 -> 84 -> 2."""
    return _two_conv_net(in_channels, num_classes, padding=0, flat=16 * 34 * 34)


def cifar_convnet(num_classes: int = 10, in_channels: int = 3) -> nn.Sequential:
    """An AlexNet-style net for 32x32 colour images; its first linear layer takes 256 * 2 * 2 = 1024."""
    return _seq(
        ("conv1", nn.Conv2d(in_channels, 64, 4, padding=1)),
        ("relu1", nn.ReLU()),
        ("pool1", nn.MaxPool2d(3, stride=2)),
        ("conv2", nn.Conv2d(64, 192, 4, padding=1)),
        ("relu2", nn.ReLU()),
        ("pool2", nn.MaxPool2d(3, stride=2)),
        ("conv3", nn.Conv2d(192, 384, 3, padding=1)),
        ("relu3", nn.ReLU()),
        ("conv4", nn.Conv2d(384, 256, 3, padding=1)),
        ("relu4", nn.ReLU()),
        ("conv5", nn.Conv2d(256, 256, 3, padding=1)),
        ("relu5", nn.ReLU()),
        ("pool5", nn.MaxPool2d(3, stride=2)),
        ("flatten", nn.Flatten()),
        ("dropout1", nn.Dropout()),
        ("fc1", nn.Linear(256 * 2 * 2, 512)),
        ("relu6", nn.ReLU()),
        ("dropout2", nn.Dropout()),
        ("fc2", nn.Linear(512, 256)),
        ("relu7", nn.ReLU()),
        ("fc3", nn.Linear(256, num_classes)),
    )


def tinyvgg(num_classes: int = 10, in_channels: int = 3, hidden: int = 10) -> nn.Sequential:
    """CNN Explainer's TinyVGG: two [conv, ReLU, conv, ReLU, max-pool] blocks on 64x64, then a linear layer."""
    return _seq(
        ("conv1_1", nn.Conv2d(in_channels, hidden, 3)),
        ("relu1_1", nn.ReLU()),
        ("conv1_2", nn.Conv2d(hidden, hidden, 3)),
        ("relu1_2", nn.ReLU()),
        ("pool1", nn.MaxPool2d(2)),
        ("conv2_1", nn.Conv2d(hidden, hidden, 3)),
        ("relu2_1", nn.ReLU()),
        ("conv2_2", nn.Conv2d(hidden, hidden, 3)),
        ("relu2_2", nn.ReLU()),
        ("pool2", nn.MaxPool2d(2)),
        ("flatten", nn.Flatten()),
        ("fc", nn.Linear(hidden * 13 * 13, num_classes)),
    )


#: Builders by architecture name; each takes ``num_classes`` and ``in_channels``.
ARCHITECTURES: dict[str, Callable[..., nn.Module]] = {
    "lenet5": lenet5,
    "mnist-cnn": mnist_cnn,
    "frnet": frnet,
    "cifar-convnet": cifar_convnet,
    "tinyvgg": tinyvgg,
}
