"""The command line's arguments: every sub-command, its options, and the small parsers they use.
Kept apart from cnnviz.cli (which runs the commands), so the two read as what they are."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from typing import Any

from cnnviz.core.choices import INPUT_SOURCES, VIEWS

EXIT_USAGE = 2


class CliError(Exception):
    """A usage problem found after parsing (shown like an argparse error)."""


def _shape(text: str) -> tuple[int, int, int]:
    try:
        parts = tuple(int(p) for p in text.replace("x", ",").split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not C,H,W (e.g. 1,28,28)") from None
    if len(parts) != 3 or min(parts) < 1 or max(parts) > 4096:
        raise argparse.ArgumentTypeError(f"'{text}' is not C,H,W with sizes 1..4096 (e.g. 1,28,28)")
    return parts  # type: ignore[return-value]


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be at least 1")
    return value


def _floats(text: str) -> tuple[float, ...]:
    try:
        values = tuple(float(p) for p in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not numbers separated by commas (e.g. 0.5,0.5,0.5)") from None
    if not all(abs(v) < 1e6 for v in values):  # also refuses nan and inf
        raise argparse.ArgumentTypeError(f"'{text}' holds a value that is not a finite number")
    return values


def _add_code_options(parser: argparse.ArgumentParser) -> None:
    """Options for a network that is none of the zoo's (--model net.py:Net, a pickled module, ...)."""
    parser.add_argument("--weights", help="state_dict (.pt, .pth, .safetensors) for a --model given as FILE.py:NAME")
    parser.add_argument("--code", metavar="FILE.py", help="Python file defining the classes of a pickled whole model")
    parser.add_argument("--labels", metavar="FILE", help="class names, one a line")
    parser.add_argument("--mean", type=_floats, help="per-channel mean the model was trained with (e.g. 0.5,0.5,0.5)")
    parser.add_argument("--std", type=_floats, help="per-channel standard deviation (e.g. 0.25)")
    parser.add_argument("--preprocess", choices=("digit", "resize", "imagenet", "fashion"),
                        help="how an image is prepared: digit (ink crop, centring), resize, imagenet (crop)")


MODEL_HELP = ("zoo name (see 'cnnviz models'), a model file (.safetensors, .pt, .pth, .pt2, .onnx), or code: "
              "FILE.py:NAME or package.module:NAME (a class or a function returning a network)")


def _add_model_options(parser: argparse.ArgumentParser, required: bool = False,
                       default: str | None = "lenet5-mnist", positional: bool = False, device: bool = True) -> None:
    """The model and everything that opens it; ``positional``: the model is the command's first argument
    (``cnnviz summary MODEL``), not ``--model``; ``device`` False where the command runs on the CPU."""
    if positional:
        parser.add_argument("model", metavar="MODEL", help=MODEL_HELP)
    else:
        parser.add_argument("--model", "-m", required=required, default=None if required else default,
                            help=MODEL_HELP)
    parser.add_argument("--arch", help="architecture of a state_dict file that does not name its own")
    parser.add_argument("--input-shape", type=_shape, help="C,H,W the model takes (default: the model's own)")
    _add_code_options(parser)
    if device:
        parser.add_argument("--device", default="auto", help="auto (default), cpu, cuda, cuda:N or mps")
    parser.add_argument("--untrained", action="store_true",
                        help="use random weights for ImageNet models whose weights are not on this machine")
    parser.add_argument("--trust-file", action="store_true",
                        help="allow a model that holds or is code (pickled module, TorchScript, FILE.py:NAME, "
                        "--code): only files you trust")


def model_from_args(args: argparse.Namespace, name: str | None = None):  # noqa: ANN201 - (torch loads lazily)
    """The model the parsed options name (``name`` or ``--model``), loaded by core's one loader."""
    from cnnviz.core.models.model_io import load_model
    from cnnviz.core.models.options import ModelOptions

    return load_model(name or args.model, args.device if hasattr(args, "device") else "auto",
                      arch=getattr(args, "arch", None), pretrained=False if getattr(args, "untrained", False) else None,
                      trust=getattr(args, "trust_file", False), **ModelOptions.of(args).kwargs())


def build_parser(families: Sequence[Callable[[Any], None]] = ()) -> argparse.ArgumentParser:
    """Every option and sub-command; ``families`` add theirs to the sub-parsers (see cnnviz.cli.FAMILIES)."""
    parser = argparse.ArgumentParser(
        prog="cnnviz", description="See inside a convolutional network while it works. "
        "Without a sub-command, opens the app.")
    parser.add_argument("--version", action="store_true", help="print versions (cnnviz, torch, CUDA, Qt) and exit")
    parser.add_argument("--debug", action="store_true",
                        help="show tracebacks, and the libraries' own warnings that cnnviz otherwise keeps quiet")
    _add_model_options(parser, default=None)  # the app remembers the last model; lenet5-mnist the first time
    parser.add_argument("--image", help="open this image as the input")
    parser.add_argument("--tab", choices=INPUT_SOURCES, help="start on this input tab")
    parser.add_argument("--stage", help="select this stage (e.g. conv2) once the model is loaded")
    parser.add_argument("--view", choices=VIEWS, default="network",
                        help="start on this view")
    parser.add_argument("--presenter", action="store_true", help="start in presenter mode (full screen, large type)")
    parser.add_argument("--tour", action="store_true", help="start the guided tour")
    parser.add_argument("--session", help="open this .cnnviz session file")
    parser.add_argument("--screenshot", metavar="PNG", help="save the window once the first result is shown, then exit")
    parser.add_argument("--draw-demo", action="store_true", help="start with a digit drawn on the canvas")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("models", help="list the model zoo")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("summary", help="per-stage table of a model")
    _add_model_options(p, positional=True, device=False)
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("graph", help="the network as a graph of its stages: SVG, PNG or JSON")
    _add_model_options(p, positional=True, device=False)
    p.add_argument("--out", required=True, metavar="FILE", help="FILE.svg, FILE.png or FILE.json")

    p = sub.add_parser("predict", help="classify images")
    p.add_argument("images", nargs="+", metavar="IMAGE")
    _add_model_options(p)
    p.add_argument("--top", type=_positive, default=3)
    p.add_argument("--json", action="store_true", help="one JSON object per line per image")

    p = sub.add_parser("render", help="save every stage of a forward pass as PNG")
    p.add_argument("image")
    _add_model_options(p)
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--npz", help="also save the raw arrays to this .npz")
    p.add_argument("--shared-scale", action="store_true", help="one colour scale per stage, not per channel")

    p = sub.add_parser("kernel", help="run hand-made kernels: conv -> ReLU -> pool")
    p.add_argument("image")
    p.add_argument("--kernel", "-k", action="append", required=True,
                   help="preset name (e.g. sobel-x, edge4 for the four 4x4 edge filters) or a .json file")
    p.add_argument("--padding", choices=("same", "valid"), default="same")
    p.add_argument("--stride", type=_positive, default=1)
    p.add_argument("--pool", type=_positive, default=2)
    p.add_argument("--pool-kind", choices=("max", "avg"), default="max")
    p.add_argument("--out", required=True)
    p.add_argument("--npz")

    p = sub.add_parser(
        "train", help="train a zoo architecture and save safetensors + model card",
        description="Train a zoo architecture and save safetensors + model card. After every epoch a checkpoint "
        "(weights, optimiser, schedule, random state, settings) is written atomically, with its card beside it, "
        "so a stopped or killed run loses at most the epoch it was in: --resume CKPT trains the epochs left.")
    p.add_argument("--model", help="architecture (lenet5, mnist-cnn, ...); needed unless --resume")
    p.add_argument("--dataset", choices=("mnist", "fashion-mnist", "cifar10", "folder", "samples-mnist",
                                         "samples-fashion"), help="needed unless --resume")
    p.add_argument("--data-root", help="the dataset's folder (with --resume: if it has moved since)")
    p.add_argument("--epochs", type=_positive, help="default 10")
    p.add_argument("--batch-size", type=_positive, help="default 64")
    p.add_argument("--lr", type=float, help="default 0.001")
    p.add_argument("--seed", type=int, help="default 0")
    p.add_argument("--augment", choices=("auto", "digits", "fashion", "none"), help="default auto")
    p.add_argument("--device", default="auto")
    p.add_argument("--limit", type=_positive, help="use only the first N training samples (smoke runs)")
    p.add_argument("--download", action="store_true",
                   help="download MNIST/Fashion-MNIST/CIFAR-10 if not in --data-root")
    p.add_argument("--out", help="FILE.safetensors; needed unless --resume (then: beside the checkpoint, with the "
                   "name the run was given)")
    p.add_argument("--checkpoint", metavar="CKPT",
                   help="where the checkpoint goes after every epoch (default: --out with .ckpt, e.g. tiny.safetensors "
                   "-> tiny.ckpt, its card tiny.ckpt.json; with --resume, the checkpoint resumed)")
    p.add_argument("--resume", metavar="CKPT",
                   help="continue the run of this checkpoint with its settings, from the epoch after the last whole "
                   "one it holds (--model, --dataset, --epochs, ... may be left out; given, they must match it)")

    p = sub.add_parser("bench", help="time the real app headless: input to painted views")
    p.add_argument("--scenario", action="append", choices=("draw-lenet", "image-resnet18", "image-vgg16",
                                                          "kernel-lab", "startup", "soak"),
                   help="run only these (repeatable); default: all but soak (resident memory over --seconds "
                   "of drawing, stage, view and model changes)")
    p.add_argument("--device", default="auto")
    p.add_argument("--seconds", type=float, default=5.0, help="how long each scenario feeds input (default 5)")
    p.add_argument("--json", action="store_true", help="one JSON object with an entry per scenario")

    p = sub.add_parser("evaluate", help="accuracy, per-class accuracy and confusion matrix")
    _add_model_options(p, required=True)
    p.add_argument("--dataset", required=True,
                   choices=("mnist", "fashion-mnist", "cifar10", "folder", "samples-mnist", "samples-fashion"))
    p.add_argument("--data-root")
    p.add_argument("--json", action="store_true")
    for add_parsers in families:
        add_parsers(sub)
    return parser
