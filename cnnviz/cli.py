"""The command line: each sub-command calls core; the bare command opens the app.

Errors a user can cause end as ``cnnviz: error: <sentence>`` on stderr with exit status 2,
and nothing else on stderr unless ``--debug`` is given: then the traceback, and what the libraries
say (torch's and Pillow's warnings, libpng's and libjpeg's messages), which core otherwise keeps
quiet; ``--debug`` sets ``CNNVIZ_DEBUG=1`` for the run (see cnnviz.core.fileio.quiet). Qt is
imported only to open the app, so ``cnnviz predict`` never loads it.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

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


def _add_model_options(parser: argparse.ArgumentParser, required: bool = False,
                       default: str | None = "lenet5-mnist") -> None:
    parser.add_argument("--model", "-m", required=required, default=None if required else default,
                        help="zoo name (see 'cnnviz models'), a model file (.safetensors, .pt, .pth, .pt2), or code: "
                        "FILE.py:NAME or package.module:NAME (a class or a function returning a network)")
    parser.add_argument("--arch", help="architecture of a state_dict file that does not name its own")
    parser.add_argument("--input-shape", type=_shape, help="C,H,W the model takes (default: the model's own)")
    _add_code_options(parser)
    parser.add_argument("--device", default="auto", help="auto (default), cpu, cuda, cuda:N or mps")
    parser.add_argument("--untrained", action="store_true",
                        help="use random weights for ImageNet models whose weights are not on this machine")
    parser.add_argument("--trust-file", action="store_true",
                        help="allow a model that holds or is code (pickled module, TorchScript, FILE.py:NAME, "
                        "--code): only files you trust")


def build_parser() -> argparse.ArgumentParser:
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
    p.add_argument("model", help="zoo name, model file (.safetensors, .pt, .pth, .pt2) or code (FILE.py:NAME)")
    p.add_argument("--input-shape", type=_shape, help="C,H,W (default: the model's own)")
    p.add_argument("--arch")
    p.add_argument("--untrained", action="store_true")
    p.add_argument("--trust-file", action="store_true")
    _add_code_options(p)
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("graph", help="the network as a graph of its stages: SVG, PNG or JSON")
    p.add_argument("model", help="zoo name or model file")
    p.add_argument("--input-shape", type=_shape, help="C,H,W (default: the model's own)")
    p.add_argument("--arch")
    p.add_argument("--untrained", action="store_true")
    p.add_argument("--trust-file", action="store_true")
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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from cnnviz.core.errors import CnnvizError
    from cnnviz.core.fileio import DEBUG_ENV

    before = os.environ.get(DEBUG_ENV)
    if args.debug:
        os.environ[DEBUG_ENV] = "1"  # core's quiet sections pass library noise on (child processes too)
    try:
        return _dispatch(args)
    except (CnnvizError, CliError) as exc:
        if args.debug:
            raise
        print(f"cnnviz: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("cnnviz: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    finally:
        if before is None:
            os.environ.pop(DEBUG_ENV, None)
        else:
            os.environ[DEBUG_ENV] = before


def _dispatch(args: argparse.Namespace) -> int:
    if args.version:
        print(version_text(args.device))
        return 0
    handlers = {None: _cmd_app, "bench": _cmd_bench, "models": _cmd_models, "summary": _cmd_summary,
                "predict": _cmd_predict, "render": _cmd_render, "kernel": _cmd_kernel, "train": _cmd_train,
                "evaluate": _cmd_evaluate, "graph": _cmd_graph}
    return handlers[args.command](args)


def version_text(device: str = "auto") -> str:
    from cnnviz.core.about import version_lines

    return "\n".join(version_lines(device))


def _load(args: argparse.Namespace, name: str | None = None):  # noqa: ANN202
    from cnnviz.core.models.model_io import load_model

    return load_model(name or args.model, args.device if hasattr(args, "device") else "auto",
                      arch=getattr(args, "arch", None), pretrained=False if getattr(args, "untrained", False) else None,
                      trust=getattr(args, "trust_file", False),
                      **{k: getattr(args, k, None) for k in ("weights", "code", "input_shape", "labels", "mean", "std",
                                                              "preprocess")})


def _cmd_app(args: argparse.Namespace) -> int:
    from cnnviz.qt.app import run_app  # Qt only here, so sub-commands never load it

    return run_app(args)


def _cmd_bench(args: argparse.Namespace) -> int:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from cnnviz.core.bench_stats import format_table
    from cnnviz.core.models.device import resolve_device
    from cnnviz.qt.bench import SCENARIOS, measure_startup, run_scenario, run_soak  # the bench drives the real app

    if not 0.5 <= args.seconds <= 600:
        raise CliError("--seconds must be between 0.5 and 600.")
    device = str(resolve_device(args.device))
    wanted = args.scenario or [*SCENARIOS, "startup"]
    rows, startup, soak = [], None, None
    for name in wanted:
        if name == "startup":
            startup = measure_startup(device)
        elif name == "soak":
            soak = run_soak(device, args.seconds)
            if not args.json:
                print(soak.line(), flush=True)
        else:
            rows.append(run_scenario(name, device, args.seconds))
            if not args.json:
                print(format_table(rows[-1:], None).splitlines()[-1], flush=True)
    if args.json:
        out = {r.scenario: r.to_json() for r in rows}
        if startup is not None:
            out["startup"] = {"seconds": round(startup, 3)}
        if soak is not None:
            out["soak"] = soak.to_json()
        print(json.dumps(out))
    elif rows or startup is not None:
        print(format_table(rows, startup))
    return 0


def _cmd_models(args: argparse.Namespace) -> int:
    from cnnviz.core.models.timm_models import listed
    from cnnviz.core.models.zoo import registry, weights_present

    rows = []
    for spec, present in [(spec, weights_present(spec)) for spec in registry().values()] + listed():
        if spec.weights is None:
            status = "untrained (random init)"
        elif present:
            status = "trained"
        elif spec.family in ("imagenet", "timm"):
            status = "ImageNet weights not on this machine (downloaded on first use when online; --untrained)"
        else:
            status = "weights missing"
        rows.append({"name": spec.name, "arch": spec.arch, "input_shape": list(spec.input_shape),
                     "classes": len(spec.class_names), "family": spec.family, "trained": spec.trained and
                     present, "status": status, "description": spec.description})
    if args.json:
        print(json.dumps(rows, indent=1))
    else:
        for r in rows:
            shape = "x".join(map(str, r["input_shape"]))
            print(f"{r['name']:<20} {shape:<10} {r['classes']:>5} classes  {r['status']}")
    return 0


def _cmd_summary(args: argparse.Namespace) -> int:
    from cnnviz.core.engine.summary import summarize
    from cnnviz.core.models.zoo import spec_of

    args.device = "cpu"
    model = _load(args, args.model)
    shape = args.input_shape or spec_of(model).input_shape
    summary = summarize(model, shape)
    print(json.dumps(summary.to_json(), indent=1) if args.json else summary.format_table())
    return 0


def _cmd_graph(args: argparse.Namespace) -> int:
    from cnnviz.core.models.zoo import spec_of
    from cnnviz.core.teach.graph import check_format, model_graph, write_graph

    check_format(args.out)  # before the model loads
    args.device = "cpu"
    model = _load(args, args.model)
    graph = model_graph(model, args.input_shape or spec_of(model).input_shape)
    write_graph(graph, args.out)
    print(f"wrote {args.out}: {len(graph.nodes)} nodes, {len(graph.edges)} edges")
    return 0


def _cmd_predict(args: argparse.Namespace) -> int:
    from cnnviz.core.engine.inference import predict_image

    model = _load(args)
    failures = 0
    for path in args.images:
        from cnnviz.core.errors import CnnvizError

        try:
            result = predict_image(model, path, args.top)
        except CnnvizError as exc:
            if len(args.images) == 1:
                raise
            print(f"cnnviz: error: {exc}", file=sys.stderr)
            failures += 1
            continue
        if args.json:
            print(json.dumps({"path": path, "top": [[c, round(p, 6)] for c, p in result.top],
                              "notes": result.notes}))
        else:
            best = ", ".join(f"{c} {p * 100:.1f} %" for c, p in result.top)
            print(f"{path}: {best}")
            for note in result.notes:
                print(f"  note: {note}")
    return EXIT_USAGE if failures else 0


def _cmd_render(args: argparse.Namespace) -> int:
    from cnnviz.core.teach.export import render_to_folder

    model = _load(args)
    written = render_to_folder(model, args.image, Path(args.out), npz=args.npz, shared_scale=args.shared_scale)
    print(f"wrote {len(written)} images to {args.out}")
    return 0


def _cmd_kernel(args: argparse.Namespace) -> int:
    from cnnviz.core.lab.kernels import resolve_kernel
    from cnnviz.core.teach.export import kernel_to_folder

    kernels = [k for spec in args.kernel for k in resolve_kernel(spec)]
    written = kernel_to_folder(args.image, kernels, Path(args.out), padding=args.padding, stride=args.stride,
                               pool=args.pool, pool_kind=args.pool_kind, npz=args.npz)
    print(f"wrote {len(written)} images to {args.out}")
    return 0


#: ``cnnviz train``'s settings and their defaults (None on the command line: not given, so --resume can tell).
TRAIN_SETTINGS = {"epochs": 10, "batch_size": 64, "lr": 1e-3, "seed": 0, "augment": "auto", "limit": None}


def _resumed_run(args: argparse.Namespace):  # noqa: ANN202
    """The checkpoint --resume names, once the settings given beside it are shown to match its run."""
    from cnnviz.core.train.checkpoint import read_checkpoint

    resume = read_checkpoint(args.resume, args.model, args.dataset)  # refuses another architecture or dataset
    differs = [k for k in TRAIN_SETTINGS
               if getattr(args, k) is not None and getattr(args, k) != getattr(resume.config, k)]
    if differs:
        def flags(values: object) -> str:
            return ", ".join(f"--{k.replace('_', '-')} {getattr(values, k)}" for k in differs)

        raise CliError(f"{resume.path.name} holds a run with {flags(resume.config)}; {flags(args)} cannot change it "
                       f"on --resume (leave {'it' if len(differs) == 1 else 'them'} out, or start a new run).")
    return resume


def _cmd_train(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from tqdm import tqdm

    from cnnviz.core.models.device import resolve_device
    from cnnviz.core.models.zoo import ARCHITECTURES, TORCHVISION_MODELS
    from cnnviz.core.train.checkpoint import CheckpointPlan, checkpoint_beside, resume_data
    from cnnviz.core.train.training import TrainConfig, dataset_stats, save_trained, train, training_data

    command = "cnnviz " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    resume = _resumed_run(args) if args.resume else None
    if resume is None:
        missing = [f"--{n}" for n in ("model", "dataset", "out") if getattr(args, n) is None]
        if missing:
            raise CliError(f"the following arguments are required: {', '.join(missing)} (or --resume CKPT "
                           "to continue a run from its checkpoint).")
        if args.model not in ARCHITECTURES and args.model not in TORCHVISION_MODELS:
            raise CliError(f"'{args.model}' is not an architecture; one of {', '.join(ARCHITECTURES)}.")
    if args.out is None and resume is not None:  # beside the checkpoint, under the name the run was given
        out = resume.path.parent / Path(resume.out or resume.path.with_suffix(".safetensors")).name
    else:
        out = Path(args.out)
    if out.suffix != ".safetensors":
        raise CliError(f"--out must end in .safetensors (got {out.name}).")
    checkpoint = Path(args.checkpoint or args.resume or checkpoint_beside(out))
    if checkpoint.suffix != ".ckpt":
        raise CliError(f"--checkpoint must end in .ckpt (got {checkpoint.name}).")
    if args.lr is not None and args.lr <= 0:
        raise CliError("--lr must be positive.")
    device = resolve_device(args.device)
    if resume is not None:
        config = resume.config if args.data_root is None else replace(resume.config, data_root=args.data_root)
        train_data, test_data = resume_data(resume, args.data_root, args.download)
        mean, std = resume.mean, resume.std
        plan = CheckpointPlan(checkpoint, resume.command, str(out))
        left = (f"epochs {resume.epoch + 1} to {config.epochs} on {device}" if not resume.finished
                else "nothing left to train; writing its model")
        print(f"resuming {config.arch} on {config.dataset} from {args.resume} ({resume.epoch} of {config.epochs} "
              f"epochs done): {left}", flush=True)
    else:
        settings = {k: d if getattr(args, k) is None else getattr(args, k) for k, d in TRAIN_SETTINGS.items()}
        config = TrainConfig(args.model, args.dataset, data_root=args.data_root, **settings)
        train_data, test_data = training_data(args.dataset, args.data_root, config.seed, config.limit, args.download)
        mean, std = dataset_stats(train_data.images)
        plan = CheckpointPlan(checkpoint, command, str(out))
        print(f"training {args.model} on {len(train_data)} {args.dataset} images ({len(test_data)} to test) "
              f"on {device}; mean {mean}, std {std}; a checkpoint after every epoch in {checkpoint}", flush=True)
        if checkpoint.exists():
            print(f"  note: {checkpoint.name} of an earlier run is replaced after the first epoch "
                  f"(--resume {checkpoint.name} continues that run instead)", flush=True)
    earlier = checkpoint.stat().st_mtime_ns if resume is None and checkpoint.is_file() else None

    def progress(epoch: int, steps: int):  # noqa: ANN202
        return lambda it: tqdm(it, total=steps, desc=f"epoch {epoch}/{config.epochs}", unit="batch", leave=False,
                               file=sys.stderr, disable=None)

    def report(stats) -> None:  # noqa: ANN001
        print(f"epoch {stats.epoch:3d}: loss {stats.loss:.4f}, train accuracy {stats.train_accuracy * 100:.2f} %, "
              f"test accuracy {stats.test_accuracy * 100:.2f} % ({stats.seconds:.1f} s)", flush=True)

    try:
        result = train(config, train_data, test_data, device, mean, std, progress, report, checkpoint=plan,
                       resume=resume)
    except KeyboardInterrupt:
        if checkpoint.is_file() and (earlier is None or checkpoint.stat().st_mtime_ns != earlier):  # this run's
            print(f"cnnviz: interrupted; the last whole epoch is in {checkpoint}: "
                  f"cnnviz train --resume {shlex.quote(str(checkpoint))} continues the run", file=sys.stderr)
            return 130
        raise
    card = save_trained(out, result, config, train_data.class_names, mean, std, (len(train_data), len(test_data)),
                        command)
    print(f"test accuracy {result.evaluation.accuracy * 100:.2f} %; wrote {out}, {card.name} and the plots "
          f"(checkpoint: {checkpoint})")
    return 0


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from cnnviz.core.data.datasets import load_dataset
    from cnnviz.core.models.zoo import spec_of
    from cnnviz.core.train.evaluation import evaluate

    model = _load(args)
    spec = spec_of(model)
    data = load_dataset(args.dataset, args.data_root, train=False)
    if data.images.shape[1:3] != spec.input_shape[1:]:
        raise CliError(f"{args.dataset} images are {data.images.shape[2]}x{data.images.shape[1]} but {spec.name} "
                       f"takes {spec.input_shape[2]}x{spec.input_shape[1]}.")
    if len(data.class_names) != len(spec.class_names):
        raise CliError(f"{args.dataset} has {len(data.class_names)} classes but {spec.name} predicts "
                       f"{len(spec.class_names)}.")
    result = evaluate(model, data, spec.mean, spec.std, spec.class_names)
    print(json.dumps(result.to_json()) if args.json else result.format())
    return 0
