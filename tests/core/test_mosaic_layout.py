"""Mosaic layouts map a mosaic pixel back to (channel, y, x); RGBX conversion; the comparison's tiles."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import cnnviz
from cnnviz.core.data.datasets import load_dataset
from cnnviz.core.engine.capture import Stage
from cnnviz.core.engine.render import (
    GAP_RGB,
    MIN_TILE,
    as_maps,
    colormap,
    mosaic_layout,
    mosaic_plan,
    stage_mosaic,
    stage_mosaics,
    to_rgbx,
)
from cnnviz.core.teach import compare as compare_module


def _one_hot_maps(channels: int, height: int, width: int, seed: int) -> tuple[torch.Tensor, list[tuple[int, int]]]:
    """Zero maps with a single 1 per channel, somewhere different in each."""
    rng = np.random.default_rng(seed)
    maps = torch.zeros(1, channels, height, width)
    spots = [(int(rng.integers(height)), int(rng.integers(width))) for _ in range(channels)]
    spots[0] = (height - 1, width - 1)  # a corner, where rounding would show
    for c, (y, x) in enumerate(spots):
        maps[0, c, y, x] = 1.0
    return maps, spots


def _hot(mosaic: np.ndarray) -> np.ndarray:
    """(py, px) of every mosaic pixel in the colour map's top colour."""
    return np.argwhere((mosaic == colormap("viridis")[255]).all(axis=2))


@pytest.mark.parametrize("channels,height,width", [(5, 6, 4), (1, 3, 7), (12, 10, 9)])
def test_an_enlarged_small_map_maps_every_pixel_back(channels, height, width):
    maps, spots = _one_hot_maps(channels, height, width, seed=channels)
    rgb, layout = stage_mosaic(Stage("s", "relu", maps, None), min_tile=MIN_TILE)
    scale = -(-MIN_TILE // min(height, width))
    assert (layout.scale, layout.shrink, layout.tile_h, layout.tile_w) == (scale, 1, height * scale, width * scale)
    gap = layout.gap
    assert gap == (1 if channels > 1 else 0)
    assert rgb.shape == (layout.rows * (layout.tile_h + gap) - gap, layout.cols * (layout.tile_w + gap) - gap, 3)
    hot = _hot(rgb)
    assert len(hot) == channels * scale * scale  # each hot map pixel is a scale x scale square
    assert sorted(layout.locate(px, py) for py, px in hot) == sorted(
        (c, y, x) for c, (y, x) in enumerate(spots) for _ in range(scale * scale))
    for c, (y, x) in enumerate(spots):  # and back: the square to_tile gives is the hot one
        top, left, size = layout.to_tile(y, x)
        x0, y0 = layout.tile_origin(c)
        assert size == scale
        square = rgb[y0 + int(top): y0 + int(top) + scale, x0 + int(left): x0 + int(left) + scale]
        assert (square == colormap("viridis")[255]).all()
    for py in range(rgb.shape[0]):  # every pixel maps to a pixel of its own tile, or is a gap or an empty tile
        for px in range(0, rgb.shape[1], 3):
            where = layout.locate(px, py)
            if where is None:
                assert tuple(rgb[py, px]) == GAP_RGB
                continue
            c, y, x = where
            x0, y0 = layout.tile_origin(c)
            assert (y, x) == ((py - y0) // scale, (px - x0) // scale) and 0 <= y < height and 0 <= x < width


@pytest.mark.parametrize("channels,height,width,max_pixels,shrink",
                         [(4, 120, 90, 5000, 3), (64, 224, 224, 1_000_000, 2)])
def test_a_shrunk_large_map_maps_back_to_the_block_it_averages(channels, height, width, max_pixels, shrink):
    maps, spots = _one_hot_maps(channels, height, width, seed=height)
    rgb, layout = stage_mosaic(Stage("s", "relu", maps, None), min_tile=MIN_TILE, max_pixels=max_pixels)
    assert (layout.scale, layout.shrink) == (1, shrink) == mosaic_plan(maps.shape, 256, MIN_TILE, max_pixels)
    assert (layout.tile_h, layout.tile_w) == (height // shrink, width // shrink)
    assert channels * layout.tile_h * layout.tile_w <= max_pixels  # map pixels drawn (gaps aside)
    hot = _hot(rgb)
    assert len(hot) == channels  # each hot map pixel falls in one averaged block
    found = sorted(layout.locate(px, py) for py, px in hot)
    assert found == sorted((c, y - y % shrink, x - x % shrink) for c, (y, x) in enumerate(spots))
    for c, (y, x) in enumerate(spots):
        top, left, size = layout.to_tile(y, x)
        x0, y0 = layout.tile_origin(c)
        assert size == 1 / shrink
        assert tuple(rgb[y0 + int(top), x0 + int(left)]) == tuple(colormap("viridis")[255])


def test_the_layout_is_the_one_stage_mosaics_draws():
    stages = [Stage("a", "conv", torch.randn(1, 7, 5, 6), None), Stage("b", "relu", torch.rand(1, 3, 40, 40), None),
              Stage("c", "linear", torch.randn(1, 10), None)]
    everything = stage_mosaics(stages, min_tile=MIN_TILE, max_pixels=2000)
    for stage in stages:
        rgb, layout = stage_mosaic(stage, min_tile=MIN_TILE, max_pixels=2000)
        assert np.array_equal(rgb, everything[stage.name])
        c, h, w = as_maps(stage.output).shape
        scale, shrink = mosaic_plan((c, h, w), 256, MIN_TILE, 2000)
        old = mosaic_layout(c, h, w, scale, gap=1 if c > 1 else 0, shrink=shrink)  # as frames laid it out before
        assert (layout.rows, layout.cols, layout.tile_h, layout.tile_w, layout.scale, layout.shrink) == \
            (old.rows, old.cols, old.tile_h, old.tile_w, old.scale, old.shrink)


# ---- RGBX ---------------------------------------------------------------------------------------


def test_to_rgbx_of_grey_repeats_the_grey_and_pads_with_255():
    grey = np.arange(12, dtype=np.uint8).reshape(3, 4) * 20
    out = to_rgbx(grey)
    assert out.shape == (3, 4, 4) and out.dtype == np.uint8 and out.flags.c_contiguous
    assert all(np.array_equal(out[..., i], grey) for i in range(3)) and (out[..., 3] == 255).all()


def test_to_rgbx_of_rgb_keeps_the_channel_order_and_takes_views():
    rgb = np.random.default_rng(0).integers(0, 256, (5, 9, 3), dtype=np.uint8)
    out = to_rgbx(rgb)
    assert out.shape == (5, 9, 4) and out.dtype == np.uint8 and out.flags.c_contiguous
    assert np.array_equal(out[..., :3], rgb) and (out[..., 3] == 255).all()
    view = rgb[::2, 1::2]  # not contiguous
    assert np.array_equal(to_rgbx(view)[..., :3], view)
    assert np.array_equal(to_rgbx(rgb[..., 0])[..., 1], rgb[..., 0])  # a grey channel view


# ---- the comparison's tiles ---------------------------------------------------------------------


def _old_tiles(maps: torch.Tensor, lut: np.ndarray, low: torch.Tensor, high: torch.Tensor, scale: int) -> np.ndarray:
    """compare._tiles as it was before the mosaics shared one tiling: a gather and a loop over tiles."""
    c, h, w = maps.shape
    t = ((maps - low) / (high - low).clamp_min(1e-12)).clamp(0, 1)
    idx = torch.nan_to_num(t * 255).round().long().cpu().numpy()
    rgb = lut[idx]
    if scale > 1:
        rgb = rgb.repeat(scale, axis=1).repeat(scale, axis=2)
    layout = mosaic_layout(c, h * scale, w * scale)
    out = np.empty((layout.rows * (h * scale + 1) - 1, layout.cols * (w * scale + 1) - 1, 3), np.uint8)
    out[:] = GAP_RGB
    for i in range(c):
        x0, y0 = layout.tile_origin(i)
        out[y0:y0 + h * scale, x0:x0 + w * scale] = rgb[i]
    return out


@pytest.mark.parametrize("channels,height,width,scale", [(1, 5, 5, 5), (6, 14, 14, 2), (16, 10, 10, 3),
                                                         (64, 7, 9, 4), (3, 28, 28, 1)])
@pytest.mark.parametrize("signed", [True, False])
def test_the_comparison_tiles_are_what_they_were(channels, height, width, scale, signed):
    generator = torch.Generator().manual_seed(channels * height)
    maps = torch.randn(channels, height, width, generator=generator)
    maps[0, 0, 0] = float("nan")
    if signed:
        high = maps.nan_to_num().abs().amax(dim=(1, 2)).view(-1, 1, 1).clamp_min(1e-12)
        low, lut = -high, colormap("diverging")
    else:
        low = maps.nan_to_num().amin(dim=(1, 2)).view(-1, 1, 1)
        high = maps.nan_to_num().amax(dim=(1, 2)).view(-1, 1, 1) * 0.8  # some values clip at the top
        lut = colormap("cividis")
    new = compare_module._tiles(maps, lut, low, high, scale)
    old = _old_tiles(maps, lut, low, high, scale)
    assert new.shape == old.shape and new.dtype == np.uint8
    assert np.array_equal(new, old)
    layout = mosaic_layout(channels, height * scale, width * scale)
    for c in (0, channels - 1):  # a channel's tile sits at the layout's tile origin
        x0, y0 = layout.tile_origin(c)
        t = ((maps[c] - low[c]) / (high[c] - low[c]).clamp_min(1e-12)).clamp(0, 1)
        expected = lut[torch.nan_to_num(t * 255).round().long().numpy()].repeat(scale, 0).repeat(scale, 1)
        assert np.array_equal(new[y0:y0 + height * scale, x0:x0 + width * scale], expected)


def test_a_comparison_of_two_digits_tiles_both_sides_on_one_scale():
    model = cnnviz.load_model("lenet5-mnist", "cpu")
    digits = load_dataset("samples-mnist", None, train=False)
    result = compare_module.compare(model, digits.images[0], digits.images[1], "conv2")
    from cnnviz.core.engine.inference import run_image

    ma, mb = (as_maps(run_image(model, image).capture.by_name("conv2").output).float()
              for image in digits.images[:2])
    high = torch.stack([ma, mb]).abs().amax(dim=(0, 2, 3)).view(-1, 1, 1).clamp_min(1e-12)
    scale = -(-MIN_TILE // 10)
    lut = colormap("diverging")
    assert np.array_equal(result.a, _old_tiles(ma, lut, -high, high, scale))
    assert np.array_equal(result.b, _old_tiles(mb, lut, -high, high, scale))
    bound = (mb - ma).abs().amax(dim=(1, 2)).view(-1, 1, 1).clamp_min(1e-12)
    assert np.array_equal(result.diff, _old_tiles(mb - ma, lut, -bound, bound, scale))
