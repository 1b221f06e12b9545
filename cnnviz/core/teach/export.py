"""Writing a forward pass or a kernel pipeline to a folder of PNGs (and an .npz), without Qt."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
from torch import nn

from cnnviz.core.data.imageio import MOSAIC_PNG, read_image, write_png, write_pngs
from cnnviz.core.engine.inference import run_image
from cnnviz.core.engine.preprocess import grey_float
from cnnviz.core.engine.render import colormap, filter_grid, mosaic_rgb, probability_bars, stage_mosaics
from cnnviz.core.errors import CnnvizError, KernelError
from cnnviz.core.lab.kernels import Kernel, run_pipeline
from cnnviz.core.models.zoo import spec_of

#: Tiles smaller than this are enlarged (nearest neighbour) in exported PNGs so they can be seen.
EXPORT_MIN_TILE = 28


def safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)


def _prepare_out(out: Path) -> None:
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CnnvizError(f"Cannot create the output folder {out} ({exc.strerror}).") from None


def render_to_folder(model: nn.Module, image_path: str | Path, out: Path, npz: str | None = None,
                     shared_scale: bool = False) -> list[Path]:
    """A PNG per stage, filter grids for conv stages, the model's input and the probability bars."""
    spec = spec_of(model)
    image = read_image(image_path)
    prediction = run_image(model, image.rgb, k=len(spec.class_names))
    result = prediction.capture
    _prepare_out(out)
    mosaics = stage_mosaics(result.stages, per_channel=not shared_scale, max_tiles=None, min_tile=EXPORT_MIN_TILE)
    pictures: list[tuple[Path, np.ndarray]] = [(out / "000-input.png", prediction.prepared.model_view)]
    for index, stage in enumerate(result.stages, start=1):
        pictures.append((out / f"{index:03d}-{safe_name(stage.name)}.png", mosaics[stage.name]))
        weight = getattr(stage.module, "weight", None) if stage.kind == "conv" else None
        if weight is not None and weight.dim() == 4:
            pictures.append((out / f"{index:03d}-{safe_name(stage.name)}-filters.png", filter_grid(weight)))
    assert result.probabilities is not None  # run_image refuses a model without class scores
    probabilities = result.probabilities[0].float().cpu().numpy()
    pictures.append((out / "probabilities.png",
                     probability_bars(probabilities, spec.class_names, top=min(10, len(spec.class_names)))))
    written = write_pngs(pictures, MOSAIC_PNG)
    if npz:
        arrays: dict[str, np.ndarray] = {"input": result.input[0].float().cpu().numpy(), "probabilities": probabilities}
        for stage in result.stages:
            arrays[stage.name] = stage.output[0].detach().float().cpu().numpy()
        np.savez_compressed(npz, allow_pickle=False, **arrays)  # float arrays only
    return written


def kernel_to_folder(image_path: str | Path, kernels: list[Kernel], out: Path, padding: str = "same",
                     stride: int = 1, pool: int = 2, pool_kind: str = "max", npz: str | None = None) -> list[Path]:
    """For each kernel: the kernel, conv (diverging), ReLU and pooled output as PNGs."""
    if padding == "valid" and len({k.weights.shape for k in kernels}) > 1:
        raise KernelError("valid padding needs kernels of one size (their outputs differ in size); use same.")
    grey = grey_float(read_image(image_path).rgb)
    result = run_pipeline(grey, kernels, padding, stride, pool, pool_kind)
    _prepare_out(out)
    written = [out / "input.png"]
    write_png(written[0], (grey * 255 + 0.5).astype(np.uint8))
    import torch

    for i, kernel in enumerate(kernels):
        stem = f"{i + 1:02d}-{safe_name(kernel.name)}"
        parts = {
            "kernel": mosaic_rgb(torch.from_numpy(kernel.weights)[None], colormap("diverging"), True, scale=24),
            "conv": mosaic_rgb(torch.from_numpy(result.conv[i])[None], colormap("diverging"), True),
            "relu": mosaic_rgb(torch.from_numpy(result.relu[i])[None], colormap("viridis"), False),
            "pool": mosaic_rgb(torch.from_numpy(result.pool[i])[None], colormap("viridis"), False),
        }
        for part, rgb in parts.items():
            path = out / f"{stem}-{part}.png"
            write_png(path, rgb)
            written.append(path)
    if npz:
        size = max(max(k.weights.shape) for k in kernels)
        stacked = np.zeros((len(kernels), size, size), np.float32)
        for i, k in enumerate(kernels):  # smaller kernels sit top-left, zero elsewhere
            stacked[i, : k.weights.shape[0], : k.weights.shape[1]] = k.weights
        np.savez_compressed(npz, input=result.input, kernels=stacked, conv=result.conv, relu=result.relu,
                            pool=result.pool)
    return written
