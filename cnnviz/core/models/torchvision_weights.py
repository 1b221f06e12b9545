"""torchvision's ImageNet weights: which checkpoint each family uses and where torch's cache keeps it.

A module of its own so that the zoo (which lists the families) and model_io (which loads them) both
read it without importing each other.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlparse

import torch

#: torchvision's DEFAULT ImageNet weights of each family and their checkpoint file name, written out
#: so that listing the zoo (and starting the app) never imports torchvision, which takes seconds
#: (it pulls in torch._dynamo). tests/core/test_zoo_summary.py checks this table against torchvision.
TORCHVISION_WEIGHTS = {
    "alexnet": ("AlexNet_Weights.IMAGENET1K_V1", "alexnet-owt-7be5be79.pth"),
    "vgg11": ("VGG11_Weights.IMAGENET1K_V1", "vgg11-8a719046.pth"),
    "vgg16": ("VGG16_Weights.IMAGENET1K_V1", "vgg16-397923af.pth"),
    "resnet18": ("ResNet18_Weights.IMAGENET1K_V1", "resnet18-f37072fd.pth"),
    "resnet50": ("ResNet50_Weights.IMAGENET1K_V2", "resnet50-11ad3fa6.pth"),
    "googlenet": ("GoogLeNet_Weights.IMAGENET1K_V1", "googlenet-1378be20.pth"),
    "squeezenet1_1": ("SqueezeNet1_1_Weights.IMAGENET1K_V1", "squeezenet1_1-b8a52dc0.pth"),
    "mobilenet_v3_small": ("MobileNet_V3_Small_Weights.IMAGENET1K_V1", "mobilenet_v3_small-047dcff4.pth"),
}


def torchvision_weights(arch: str, weights: str):  # noqa: ANN201 - a torchvision WeightsEnum member
    """The weights member named by a zoo entry's ``torchvision:Enum.MEMBER`` (imports torchvision)."""
    from cnnviz.core.torchvision_import import import_torchvision

    torchvision = import_torchvision()
    member = weights.partition(":")[2].partition(".")[2]
    return torchvision.models.get_model_weights(arch)[member]


def torchvision_cache_path(arch: str, weights: str | None) -> Path:
    """Where torch's hub cache keeps (or would keep) the ImageNet weights of a zoo entry (from the
    table above, so asking does not import torchvision)."""
    enum_name = weights.partition(":")[2] if weights else ""
    known = TORCHVISION_WEIGHTS.get(arch)
    if known is not None and known[0] == enum_name:
        name = known[1]
    else:
        name = os.path.basename(urlparse(torchvision_weights(arch, weights or "").url).path)
    return Path(torch.hub.get_dir()) / "checkpoints" / name
