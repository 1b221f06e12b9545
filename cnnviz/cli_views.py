"""Commands for the whole-computation views: ``embed`` (a dataset's activations in 2-D) and ``attack``
(adversarial inputs). Each calls core (cnnviz.core.teach.embedding, .adversarial)."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cnnviz.cli_parser import CliError, _add_model_options, _positive, model_from_args

EMBED_DATASETS = ("mnist", "fashion-mnist", "cifar10", "folder", "samples-mnist", "samples-fashion")


def _eps(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number") from None
    return value  # the range (0..1) is core's to check, so the app and the command line say the same


def add_parsers(sub: Any) -> None:  # noqa: ANN401 - (argparse's private sub-parsers action)
    """Add this family's sub-commands to the command line's sub-parsers."""
    p = sub.add_parser("embed", help="a dataset's activations at one stage as a 2-D map (PCA, t-SNE, UMAP)",
                       description="Every sample of a dataset through the model, its activation at one stage "
                       "(default: the one that feeds the classifier) projected to 2-D; points coloured by class, "
                       "misclassified ones as crosses.")
    _add_model_options(p, positional=True)
    p.add_argument("--dataset", required=True, choices=EMBED_DATASETS)
    p.add_argument("--data-root", help="the dataset's folder (not needed for the shipped samples)")
    p.add_argument("--split", choices=("test", "train"), default="test")
    p.add_argument("--stage", help="the stage whose activations are mapped (default: the one before the classifier)")
    p.add_argument("--method", choices=("pca", "tsne", "umap"), default="pca",
                   help="pca (instant), tsne (scikit-learn) or umap (pip install cnnviz[umap])")
    p.add_argument("--max-samples", type=_positive, help="map only this many samples, evenly spread over the split")
    p.add_argument("--out", required=True, metavar="FILE.png")
    p.add_argument("--json", action="store_true",
                   help='print {"stage", "method", "points": [[x, y, label, index], ...]} (index: the split\'s order)')

    p = sub.add_parser("attack", help="an adversarial input: FGSM or PGD, untargeted or towards a class",
                       description="Change the input by at most EPS per pixel (pixel units 0..1, L-infinity) so "
                       "that the model changes its mind (Captum's FGSM and PGD).")
    p.add_argument("image")
    _add_model_options(p, required=True)
    p.add_argument("--method", choices=("fgsm", "pgd"), default="pgd")
    p.add_argument("--eps", type=_eps, default=0.1, help="largest change of a pixel, 0..1 (default 0.1)")
    p.add_argument("--steps", type=int, help="PGD steps (default 20; FGSM takes one)")
    p.add_argument("--target", metavar="CLASS", help="make the model say this class (name or index)")
    p.add_argument("--out", required=True, metavar="ADV.png", help="the adversarial input as the model sees it")
    p.add_argument("--perturbation", metavar="FILE.png", help="also save the perturbation on the diverging map")
    p.add_argument("--npz", help="save 'input' and 'adversarial', the tensors given to the model, to this .npz")
    p.add_argument("--json", action="store_true", help="print the class and probability before and after as JSON")


def _png(path: str, flag: str) -> Path:
    if Path(path).suffix.lower() != ".png":
        raise CliError(f"{flag} must end in .png (got {Path(path).name}).")
    return Path(path)


def _cmd_embed(args: argparse.Namespace) -> int:
    from cnnviz.core.data.datasets import load_dataset
    from cnnviz.core.data.imageio import write_png
    from cnnviz.core.teach.embedding import METHOD_NAMES, embedding_map, one_nn_accuracy
    from cnnviz.core.teach.embedding_drawing import draw_map

    out = _png(args.out, "--out")
    model = model_from_args(args, args.model)
    data = load_dataset(args.dataset, args.data_root, train=args.split == "train")
    emb = embedding_map(model, data, args.stage, args.method, max_samples=args.max_samples)
    write_png(out, draw_map(emb))
    if args.json:
        print(json.dumps(emb.to_json()))
    else:
        print(f"wrote {out}: {len(emb.points)} samples of {data.name} at {emb.stage}, "
              f"{METHOD_NAMES[emb.method]}; {int(emb.misclassified.sum())} misclassified; "
              f"1-NN accuracy in 2-D {one_nn_accuracy(emb.points, emb.labels) * 100:.1f} %")
    return 0


def _cmd_attack(args: argparse.Namespace) -> int:
    import numpy as np

    from cnnviz.core.data.imageio import read_image, write_png
    from cnnviz.core.engine.preprocess import prepare
    from cnnviz.core.models.zoo import spec_of
    from cnnviz.core.teach.adversarial import adversarial_picture, attack, perturbation_picture, resolve_class

    out = _png(args.out, "--out")
    picture = _png(args.perturbation, "--perturbation") if args.perturbation else None
    if args.npz and Path(args.npz).suffix.lower() != ".npz":
        raise CliError(f"--npz must end in .npz (got {Path(args.npz).name}).")
    model = model_from_args(args)
    spec = spec_of(model)
    target = resolve_class(spec.class_names, args.target) if args.target is not None else None
    image = read_image(args.image)
    prepared = prepare(image.rgb, spec)
    result = attack(model, prepared.tensor, args.method, args.eps, args.steps, target)
    write_png(out, adversarial_picture(result))
    if picture is not None:
        height = result.perturbation.shape[-2]
        write_png(picture, perturbation_picture(result, max(1, 224 // max(1, height))))
    if args.npz:
        np.savez(args.npz, input=result.input.numpy(), adversarial=result.adversarial.numpy())
    if args.json:
        print(json.dumps({"path": args.image, **result.to_json()}))
    else:
        goal = f" towards {result.name(target)}" if target is not None else ""
        verdict = "reached" if target is not None and result.reached else (
            "not reached" if target is not None else ("flipped" if result.flipped else "not flipped"))
        print(f"{args.image}: {result.name(result.class_before)} {result.prob_before * 100:.1f} % -> "
              f"{result.name(result.class_after)} {result.prob_after * 100:.1f} % ({result.method.upper()}{goal}, "
              f"eps {result.eps:g}, {verdict}); wrote {out}")
        for note in [*image.notes, *prepared.notes]:
            print(f"  note: {note}")
    return 0


#: command name -> its handler (returns the exit status)
HANDLERS: dict[str, Callable[[argparse.Namespace], int]] = {"embed": _cmd_embed, "attack": _cmd_attack}
