"""Choosing where the model runs, and how many CPU threads a forward pass should use."""

from __future__ import annotations

import torch

from cnnviz.core.errors import DeviceError

#: Below this many multiply-adds a forward pass is too small to split over threads:
#: on 2 cores one intra-op thread gives LeNet-sized nets less jitter and lower latency.
SMALL_MODEL_MACS = 50_000_000


def available_devices() -> list[str]:
    """Every device name this machine offers, in the order a chooser lists them."""
    names = ["cpu"]
    if torch.cuda.is_available():
        names += [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    if _mps_available():
        names.append("mps")
    return names


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def resolve_device(name: str | torch.device | None = "auto") -> torch.device:
    """Turn ``auto|cpu|cuda|cuda:N|mps`` into a device that exists, or say why it does not."""
    if isinstance(name, torch.device):
        name = str(name)
    text = (name or "auto").strip().lower()
    if text == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda:0")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    if text == "cpu":
        return torch.device("cpu")
    if text == "mps":
        if not _mps_available():
            raise DeviceError("Apple MPS is not available on this machine; use --device cpu or auto.")
        return torch.device("mps")
    if text == "cuda" or text.startswith("cuda:"):
        index_text = text.partition(":")[2] or "0"
        if not index_text.isdigit():
            raise DeviceError(f"'{name}' is not a device name; use cpu, cuda, cuda:N, mps or auto.")
        index = int(index_text)
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise DeviceError(f"{text} was asked for but this machine has no usable CUDA GPU; use --device cpu.")
        if index >= count:
            raise DeviceError(f"cuda:{index} is not there: this machine has {count} CUDA device(s) "
                              f"(cuda:0..cuda:{count - 1}).")
        return torch.device(f"cuda:{index}")
    raise DeviceError(f"'{name}' is not a device name; use cpu, cuda, cuda:N, mps or auto.")


def describe_device(device: torch.device) -> str:
    """A short human label, e.g. 'cuda:0 (NVIDIA H100)' or 'cpu (2 threads)'."""
    if device.type == "cuda":
        return f"{device} ({torch.cuda.get_device_name(device)})"
    if device.type == "cpu":
        return f"cpu ({torch.get_num_threads()} threads)"
    return str(device)


def estimate_macs(model: torch.nn.Module, input_shape: tuple[int, ...]) -> int:
    """Rough multiply-accumulate count of conv and linear layers for one sample (for the thread policy)."""
    macs = 0
    hooks = []

    def count(module: torch.nn.Module, _inputs: tuple, output: torch.Tensor) -> None:
        nonlocal macs
        if isinstance(output, torch.Tensor):
            weight = getattr(module, "weight", None)
            if weight is not None:
                per_out = weight[0].numel() if isinstance(module, torch.nn.modules.conv._ConvNd) else weight.shape[-1]
                macs += int(output[0].numel() * per_out)

    for module in model.modules():
        if isinstance(module, torch.nn.modules.conv._ConvNd | torch.nn.Linear):
            hooks.append(module.register_forward_hook(count))
    try:
        param = next(model.parameters(), None)
        device = param.device if param is not None else torch.device("cpu")
        with torch.no_grad():
            model(torch.zeros((1, *input_shape), device=device))
    finally:
        for hook in hooks:
            hook.remove()
    return macs


def thread_count_for(macs: int, cores: int | None = None) -> int:
    """One intra-op thread for small nets (less jitter), all cores for large ones."""
    import os

    cores = cores or os.cpu_count() or 1
    return 1 if macs < SMALL_MODEL_MACS else max(1, cores)


def apply_thread_policy(model: torch.nn.Module, input_shape: tuple[int, ...]) -> int:
    """Set torch's intra-op threads for running ``model`` on the CPU; returns the count chosen.

    Large models also move to the channels-last memory layout, which oneDNN's CPU convolutions
    prefer (ResNet-18 and VGG-16 forwards 8-20 % faster in interleaved runs on the 2-core development VM),
    and keep their large convolution weights in oneDNN's layout instead of having them reordered on
    every forward (:mod:`cnnviz.core.models.packed_conv`: ResNet-18 and ResNet-50 ~12 % faster, same results).
    """
    from cnnviz.core.models.packed_conv import pack_conv_weights

    macs = estimate_macs(model, input_shape)
    threads = thread_count_for(macs)
    torch.set_num_threads(threads)
    if macs >= SMALL_MODEL_MACS:
        model.to(memory_format=torch.channels_last)
        pack_conv_weights(model)
    return threads
