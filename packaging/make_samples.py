"""Rebuild assets/samples from real data (run once by a developer; the result is committed).

MNIST digits come from ../shared/data (the held-out test split), Fashion-MNIST from Debian's
dataset-fashion-mnist (test split), and the photographs from scikit-image's data module.
Usage: python packaging/make_samples.py [MNIST_ROOT] [FASHION_ROOT]
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from cnnviz.core.data.datasets import load_idx_dataset
from cnnviz.core.data.imageio import write_png

PER_CLASS = 20
OUT = Path(__file__).resolve().parents[1] / "assets" / "samples"


def pick(dataset, per_class: int = PER_CLASS, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    chosen = []
    for label in range(len(dataset.class_names)):
        (indices,) = np.nonzero(dataset.labels == label)
        chosen += list(rng.choice(indices, per_class, replace=False))
    chosen = np.array(sorted(chosen))
    return dataset.images[chosen], dataset.labels[chosen]


def main() -> None:
    mnist_root = sys.argv[1] if len(sys.argv) > 1 else "../shared/data"
    fashion_root = sys.argv[2] if len(sys.argv) > 2 else "/usr/share/datasets/fashion-mnist"
    OUT.mkdir(parents=True, exist_ok=True)
    for kind, root, name in (("mnist", mnist_root, "mnist"), ("fashion", fashion_root, "fashion-mnist")):
        data = load_idx_dataset(root, name, train=False)
        images, labels = pick(data)
        np.savez_compressed(OUT / f"{kind}.npz", images=images, labels=labels,
                            class_names=np.array(data.class_names))
        print(f"{kind}: {len(labels)} images")
    from skimage import data as skdata

    photos = OUT / "photos"
    photos.mkdir(exist_ok=True)
    import cv2

    for name in ("chelsea", "astronaut", "coffee"):
        rgb = getattr(skdata, name)()
        ok, encoded = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90])
        encoded.tofile(str(photos / f"{name}.jpg"))
    write_png(photos / "camera.png", skdata.camera())
    print("photos written")
    from cnnviz.core.data.strokes import demo_digit, render

    digits = OUT / "digits"
    digits.mkdir(exist_ok=True)
    for digit in range(10):  # drawn the way the canvas draws: dark ink on white, 280x280
        write_png(digits / f"{digit}.png", render(demo_digit(digit)))
    from cnnviz.core.data.strokes import paper_photo

    rng = np.random.default_rng(3)
    for digit in (3, 8):  # as a teacher's phone would see a digit written on paper
        ink = render(demo_digit(digit, size=480, width=22.0), size=480, width=22.0, ink=255, paper=0)
        write_png(digits / f"paper-{digit}.png", paper_photo(ink, rng))
    print("drawn digits written")


if __name__ == "__main__":
    main()
