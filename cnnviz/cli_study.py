"""Commands that ask what a channel has learned: ``features`` (inputs optimised to excite it) and
``exemplars`` (the dataset samples, and patches, that excite it most). Each calls core; a progress bar
goes to stderr only when stderr is a terminal (tqdm's ``disable=None``), so pipes and logs stay clean."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cnnviz.cli_parser import _add_model_options, _positive, model_from_args

DATASET_CHOICES = ("mnist", "fashion-mnist", "cifar10", "folder", "samples-mnist", "samples-fashion")


def _channels(text: str) -> list[int]:
    """'0-7,12' -> [0, 1, ..., 7, 12]."""
    chosen: list[int] = []
    try:
        for part in text.split(","):
            first, _, last = part.strip().partition("-")
            low, high = int(first), int(last or first)
            if low < 0 or high < low or high - low > 100_000:
                raise ValueError
            chosen += range(low, high + 1)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not channels such as 0-7,12") from None
    return chosen


def add_parsers(sub: Any) -> None:  # noqa: ANN401 - (argparse's private sub-parsers action)
    """Add this family's sub-commands to the command line's sub-parsers."""
    p = sub.add_parser("features", help="inputs optimised to excite each channel of a stage (feature visualisation)",
                       description="Gradient ascent on the input, in a Fourier parameterisation with small random "
                       "transforms (as Lucid does), pixels kept in [0, 1]: one PNG per channel, grid.png, and "
                       "features.npz with channel_<c> = the model input (C, H, W, normalised as the model takes it).")
    _add_model_options(p, positional=True)
    p.add_argument("--stage", help="stage whose channels to visualise (not needed for --objective class)")
    p.add_argument("--channels", type=_channels, help="e.g. 0-7,12 (default: all; for class: all classes)")
    p.add_argument("--steps", type=_positive, default=128, help="ascent steps (default 128)")
    p.add_argument("--objective", choices=("channel", "neuron", "class"), default="channel",
                   help="channel: its mean activation (default); neuron: at the centre position; class: a logit")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--json", action="store_true", help="print one JSON object")

    p = sub.add_parser("exemplars", help="the dataset samples (and patches) that excite each channel most",
                       description="The top-k samples of every channel by its maximum over positions, with the box "
                       "in the input that the maximum sees (its receptive field): a grid PNG of patches per channel. "
                       "Scans are cached under --cache and made again when the weights change.")
    _add_model_options(p, positional=True)
    p.add_argument("--stage", required=True)
    p.add_argument("--dataset", required=True, choices=DATASET_CHOICES)
    p.add_argument("--data-root", help="the dataset's folder (default: $CNNVIZ_DATA)")
    p.add_argument("--split", choices=("train", "test"), default="test")
    p.add_argument("--top", type=_positive, default=9, help="samples per channel (default 9)")
    p.add_argument("--channels", type=_channels, help="e.g. 0-7,12 (default: all)")
    p.add_argument("--batch-size", type=_positive, default=256)
    p.add_argument("--cache", metavar="DIR", help="cache folder (default: $XDG_CACHE_HOME/cnnviz/exemplars)")
    p.add_argument("--no-cache", action="store_true", help="scan afresh and keep nothing")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--json", action="store_true", help="print one JSON object")


class _Bar:
    """A tqdm bar on stderr that shows only on a terminal; called as progress(done, total)."""

    def __init__(self, what: str, unit: str) -> None:
        from tqdm import tqdm

        self.bar = tqdm(desc=what, unit=unit, leave=False, file=sys.stderr, disable=None)

    def __call__(self, done: int, total: int) -> None:
        self.bar.total = total
        self.bar.n = done
        self.bar.refresh()

    def close(self) -> None:
        self.bar.close()


def _cmd_features(args: argparse.Namespace) -> int:
    from cnnviz.core.data.imageio import write_png
    from cnnviz.core.fileio import atomic_write
    from cnnviz.core.teach.features import FeatureSettings, visualise

    settings = FeatureSettings(objective=args.objective, steps=args.steps, seed=args.seed)
    settings.check()
    model = _load(args)
    out = _folder(args.out)
    bar = _Bar("features", "step")
    try:
        result = visualise(model, args.stage, args.channels, settings, progress=bar)
    finally:
        bar.close()
    import numpy as np

    rows = []
    for k, channel in enumerate(result.channels):
        path = out / f"{result.stage}-{channel}.png"
        write_png(path, result.image(channel))
        rows.append({"channel": channel, "activation": result.activations[k], "score": result.scores[k],
                     "path": str(path)})
    write_png(out / "grid.png", result.grid(tile=max(56, result.inputs.shape[-1])))
    arrays = {f"channel_{c}": result.inputs[k].numpy() for k, c in enumerate(result.channels)}
    atomic_write(out / "features.npz", lambda handle: np.savez(handle, **arrays))
    if args.json:
        print(json.dumps({"stage": result.stage, "objective": result.objective, "channels": rows}))
    else:
        for row in rows:
            print(f"{result.stage} channel {row['channel']}: mean activation {row['activation']:.4g} -> {row['path']}")
        print(f"wrote {len(rows)} images, grid.png and features.npz to {out}")
    return 0


def _cmd_exemplars(args: argparse.Namespace) -> int:
    from cnnviz.core.data.datasets import default_root, load_dataset
    from cnnviz.core.data.imageio import write_png
    from cnnviz.core.engine.preprocess import prepare
    from cnnviz.core.models.zoo import spec_of
    from cnnviz.core.teach.exemplars import default_cache_dir, patch_grid, scan
    from cnnviz.core.teach.study_common import check_channels

    model = _load(args)
    spec = spec_of(model)
    # a folder's pictures become what the model sees, by its own preparation (a photo resized and cropped,
    # a drawn digit centred), as in the app: squashed to the model's size they were distorted
    data = load_dataset(args.dataset, args.data_root or default_root(), args.split == "train",
                        prepare=lambda rgb: prepare(rgb, spec).model_view)
    cache = None if args.no_cache else (args.cache or default_cache_dir())
    out = _folder(args.out)
    bar = _Bar("exemplars", "sample")
    try:
        result = scan(model, data, args.stage, top=args.top, cache_dir=cache, batch_size=args.batch_size,
                      progress=bar)
    finally:
        bar.close()
    rows: list[dict[str, Any]] = []
    for channel in check_channels(args.channels, result.channels, args.stage):
        path = out / f"{args.stage}-{channel}.png"
        write_png(path, patch_grid(result, data, spec, channel))
        rows.append({"channel": channel, "path": str(path), "top": [e.to_json() for e in result.top(channel)]})
    if args.json:
        print(json.dumps({"stage": args.stage, "n": result.n, "channels": rows}))
    else:
        names = data.class_names
        for row in rows:
            best = row["top"][0]
            label = names[best["label"]] if 0 <= best["label"] < len(names) else best["label"]
            print(f"{args.stage} channel {row['channel']}: best sample {best['index']} ({label}), "
                  f"max {best['value']:.4g} -> {row['path']}")
        source = "from the cache" if result.from_cache else f"scanned {result.n} samples"
        print(f"{source}; wrote {len(rows)} grids to {out}")
    return 0


def _load(args: argparse.Namespace):  # noqa: ANN202 - (torch loads lazily)
    """The model, with the app's CPU thread policy: one thread for a small net. Two threads on a tiny LeNet
    batch were 8x slower than one on the shared 2-core VM (they wait for each other and for other jobs)."""
    from cnnviz.core.models.device import apply_thread_policy
    from cnnviz.core.models.zoo import spec_of

    model = model_from_args(args)
    param = next(model.parameters(), None)
    if param is None or param.device.type == "cpu":
        apply_thread_policy(model, args.input_shape or spec_of(model).input_shape)
    return model


def _folder(path: str) -> Path:
    from cnnviz.core.errors import CnnvizError

    folder = Path(path)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CnnvizError(f"Cannot make the output folder {folder} ({exc.strerror or exc}); choose another.") \
            from None
    return folder


#: command name -> its handler (returns the exit status)
HANDLERS: dict[str, Callable[[argparse.Namespace], int]] = {"features": _cmd_features, "exemplars": _cmd_exemplars}
