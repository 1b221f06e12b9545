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

from cnnviz import cli_study, cli_views
from cnnviz.cli_parser import EXIT_USAGE, CliError, build_parser, model_from_args  # noqa: F401 - (re-exported)

#: Modules that bring whole command families (their arguments and their handlers), so each family
#: lives in one file: ``add_parsers(sub)`` and ``HANDLERS`` (command name -> function of the args).
FAMILIES = (cli_study, cli_views)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser([family.add_parsers for family in FAMILIES])
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
    for family in FAMILIES:
        handlers.update(family.HANDLERS)
    return handlers[args.command](args)


def version_text(device: str = "auto") -> str:
    from cnnviz.core.about import version_lines

    return "\n".join(version_lines(device))


def _load(args: argparse.Namespace, name: str | None = None):  # noqa: ANN202
    return model_from_args(args, name)


def _cmd_app(args: argparse.Namespace) -> int:
    from cnnviz.qt.app import run_app  # Qt only here, so sub-commands never load it

    return run_app(args)


def _cmd_bench(args: argparse.Namespace) -> int:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from cnnviz.core.bench_stats import format_table
    from cnnviz.core.models.device import resolve_device
    from cnnviz.qt.bench import SCENARIOS, measure_startup, run_scenario  # the bench drives the real app
    from cnnviz.qt.soak import run_soak

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
