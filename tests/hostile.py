"""A corpus of hostile files, made on the fly, and a runner that feeds them to cnnviz's loaders.

Used by tests/cli/test_hostile_files.py; run ``python tests/hostile.py`` for the figures in the README.
Every file goes through the same entry point the CLI and the GUI use (read_image, load_model,
load_bank, read_idx). Outcomes: loaded (a damaged file that still decodes is fine), refused
(a CnnvizError: one sentence for the user), crash (anything else: must be 0). Malicious
checkpoints try to create a canary file; any canary that appears is a code execution (must be 0).

:func:`cli_argv` gives, for each file of the corpus, the ``cnnviz`` command line that reads it, so the
same corpus also goes through the command line (one ``cnnviz: error:`` line or a result, and nothing
else on stderr); :func:`special_files` makes what a stat must refuse before any open (a named pipe,
a socket, a link to /dev/zero, a folder), which only a subprocess with a timeout may try.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import struct
import sys
import time
import tracemalloc
import warnings
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import torch
from safetensors.torch import save as safetensors_bytes

from cnnviz.core.data.datasets import read_idx
from cnnviz.core.data.imageio import read_image
from cnnviz.core.errors import CnnvizError
from cnnviz.core.lab.kernels import load_bank
from cnnviz.core.models.model_io import load_model
from cnnviz.core.models.zoo import build_architecture


@dataclass
class Outcome:
    kind: str
    path: Path
    result: str  # loaded | refused | crash
    seconds: float
    peak_bytes: int
    message: str = ""


@dataclass
class Report:
    outcomes: list[Outcome] = field(default_factory=list)
    executions: int = 0

    def count(self, result: str) -> int:
        return sum(o.result == result for o in self.outcomes)

    def slowest(self, result: str = "refused") -> Outcome | None:
        chosen = [o for o in self.outcomes if o.result == result]
        return max(chosen, key=lambda o: o.seconds) if chosen else None

    def summary(self) -> str:
        slow = self.slowest()
        peak = max((o.peak_bytes for o in self.outcomes), default=0)
        kinds = sorted({o.kind for o in self.outcomes})
        per_kind = ", ".join(f"{k} {sum(o.kind == k for o in self.outcomes)}" for k in kinds)
        return (f"files tried: {len(self.outcomes)} ({per_kind}); clean refusals: {self.count('refused')}; "
                f"loaded anyway (still valid): {self.count('loaded')}; crashes: {self.count('crash')}; "
                f"code executions: {self.executions}; slowest refusal: "
                f"{slow.seconds * 1000:.0f} ms ({slow.path.name}); peak traced memory for one file: "
                f"{peak / 1024**2:.1f} MiB")


# ---- the corpus ------------------------------------------------------------------------------
def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _png_bomb(width: int, height: int) -> bytes:
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    data = zlib.compress(b"\x00" * 4096, 9)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", data) + _png_chunk(b"IEND", b"")


def _encode(suffix: str, array: np.ndarray) -> bytes:
    ok, data = cv2.imencode(suffix, array)
    if not ok:
        raise RuntimeError(f"cannot encode {suffix}")
    return data.tobytes()


def _base_images() -> dict[str, bytes]:
    rng = np.random.default_rng(0)
    rgb = (rng.random((48, 64, 3)) * 255).astype(np.uint8)
    from PIL import Image

    def pil(fmt: str, image: Image.Image, **kw: object) -> bytes:
        out = io.BytesIO()
        image.save(out, fmt, **kw)
        return out.getvalue()

    frames = [Image.fromarray(np.full((20, 20), v, np.uint8)) for v in (0, 128, 255)]
    gif = io.BytesIO()
    frames[0].save(gif, "GIF", save_all=True, append_images=frames[1:])
    exif = Image.Exif()
    exif[0x0112] = 6
    return {
        "rgb.png": _encode(".png", rgb),
        "grey16.png": _encode(".png", (rng.random((40, 40)) * 65535).astype(np.uint16)),
        "photo.jpg": _encode(".jpg", rgb), "image.bmp": _encode(".bmp", rgb),
        "float.tiff": pil("TIFF", Image.fromarray(rng.random((30, 30)).astype(np.float32))),
        "palette.png": pil("PNG", Image.fromarray(rgb).convert("P")),
        "alpha.png": pil("PNG", Image.fromarray(np.dstack([rgb, np.full(rgb.shape[:2], 128, np.uint8)]))),
        "animated.gif": gif.getvalue(), "rotated.jpg": pil("JPEG", Image.fromarray(rgb), exif=exif),
        "image.webp": pil("WEBP", Image.fromarray(rgb)),
    }


def _flip_bits(data: bytes, seed: int, count: int = 8) -> bytes:
    rng = np.random.default_rng(seed)
    buffer = bytearray(data)
    for _ in range(count):
        i = int(rng.integers(len(buffer)))
        buffer[i] ^= 1 << int(rng.integers(8))
    return bytes(buffer)


TRUNCATIONS = (0.05, 0.2, 0.4, 0.6, 0.8, 0.95)


def _variants(name: str, data: bytes, flips: int) -> dict[str, bytes]:
    out = {f"trunc{int(f * 100)}-{name}": data[: max(1, int(len(data) * f))] for f in TRUNCATIONS}
    out.update({f"header{n}-{name}": data[:n] for n in (4, 16)})
    out.update({f"flip{seed}-{name}": _flip_bits(data, seed) for seed in range(flips)})
    return out


def png_with_idat_garbage() -> bytes:
    """A good 64x48 RGB PNG whose zlib stream goes on after the last row: libpng says "Too much image data"."""
    width, height = 64, 48
    rgb = (np.random.default_rng(3).random((height, width, 3)) * 255).astype(np.uint8)
    raw = b"".join(b"\x00" + row.tobytes() for row in rgb)
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = _png_chunk(b"IDAT", zlib.compress(raw + b"\x00" * 3000))
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + idat + _png_chunk(b"IEND", b"")


def jpeg_with_extraneous_bytes() -> bytes:
    """A good JPEG with junk before its end marker: libjpeg says "Corrupt JPEG data: N extraneous bytes"."""
    rgb = (np.random.default_rng(4).random((48, 64, 3)) * 255).astype(np.uint8)
    data = _encode(".jpg", rgb)
    return data[:-2] + bytes(range(1, 101)) + data[-2:]


def grey_png(width: int, height: int) -> bytes:
    """A grey PNG of any size, even 1,000,000x1 (a few KB: the rows compress to nothing)."""
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    rows = (b"\x00" + bytes([128]) * width) * height
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", zlib.compress(rows, 9))
            + _png_chunk(b"IEND", b""))


#: Degenerate sizes (width, height): refused with a sentence below 4 px a side or beyond 1:100, else shown.
DEGENERATE_SIZES = ((1, 1), (2, 2), (3, 3), (1_000_000, 1), (1, 100_000), (600, 5), (4, 4), (400, 4))


def image_files() -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    for name, data in _base_images().items():
        files.update(_variants(name, data, flips=16))
    files.update({f"size-{w}x{h}.png": grey_png(w, h) for w, h in DEGENERATE_SIZES})
    files.update({"idat-garbage.png": png_with_idat_garbage(), "extraneous.jpg": jpeg_with_extraneous_bytes()})
    files.update({
        "bomb-20000.png": _png_bomb(20000, 20000), "bomb-wide.png": _png_bomb(1_000_000, 100),
        "bomb-tall.png": _png_bomb(100, 2_000_000), "empty.png": b"", "garbage.jpg": os.urandom(4096),
        "text.png": b"this is not an image\n" * 50, "zeros.bmp": b"\x00" * 2048,
        "jpeg-soi-only.jpg": b"\xff\xd8\xff", "png-sig-only.png": b"\x89PNG\r\n\x1a\n",
    })
    return files


class _Payload:
    def __init__(self, func: Callable, args: tuple) -> None:
        self.func, self.args = func, args

    def __reduce__(self) -> tuple:
        return self.func, self.args


def model_files(canary_dir: Path) -> dict[str, bytes]:
    import builtins
    import runpy
    import subprocess

    state = build_architecture("lenet5").state_dict()
    plain = io.BytesIO()
    torch.save(state, plain)
    plain_bytes = plain.getvalue()
    tensors = safetensors_bytes({k: v.contiguous() for k, v in state.items()}, metadata={"arch": "lenet5"})
    files: dict[str, bytes] = {}
    files.update({k + ".pt": v for k, v in _variants("state", plain_bytes, flips=30).items()})
    files.update({k.replace(".safetensors", "") + ".safetensors": v
                  for k, v in _variants("weights.safetensors", tensors, flips=30).items()})
    payloads = {
        "os-system": (os.system, (f"touch {canary_dir / 'os-system'}",)),
        "eval": (builtins.eval, (f"open({str(canary_dir / 'eval')!r}, 'w').close()",)),
        "exec": (builtins.exec, (f"open({str(canary_dir / 'exec')!r}, 'w').close()",)),
        "subprocess": (subprocess.call, (["touch", str(canary_dir / "subprocess")],)),
        "runpy": (runpy.run_path, (str(canary_dir / "script.py"),)),
    }
    (canary_dir / "script.py").write_text(f"open({str(canary_dir / 'runpy')!r}, 'w').close()\n")
    for name, (func, args) in payloads.items():
        for wrap in ("bare", "in-dict", "in-state"):
            payload = _Payload(func, args)
            obj = payload if wrap == "bare" else {"state_dict": {"w": payload}} if wrap == "in-state" else \
                {"arch": "lenet5", "extra": payload}
            out = io.BytesIO()
            torch.save(obj, out)
            files[f"evil-{name}-{wrap}.pt"] = out.getvalue()
            out = io.BytesIO()
            torch.save(obj, out, _use_new_zipfile_serialization=False)
            files[f"evil-legacy-{name}-{wrap}.pt"] = out.getvalue()
            out = io.BytesIO()
            torch.save(obj, out, pickle_protocol=4)  # torch warns "Detected pickle protocol 4" before refusing
            files[f"evil-protocol4-{name}-{wrap}.pt"] = out.getvalue()
    out = io.BytesIO()
    torch.save(state, out, pickle_protocol=4)
    files["state-protocol4.pt"] = out.getvalue()
    header = json.dumps({"w": {"dtype": "F32", "shape": [10**9], "data_offsets": [0, 4 * 10**9]}}).encode()
    files.update({
        "header-too-long.safetensors": (10**15).to_bytes(8, "little") + b"{}",
        "header-bad-json.safetensors": (5).to_bytes(8, "little") + b"{bad}",
        "offsets-past-end.safetensors": len(header).to_bytes(8, "little") + header + b"\x00" * 16,
        "empty.pt": b"", "garbage.pt": os.urandom(8192), "garbage.safetensors": os.urandom(512),
        "text.pth": b"not a checkpoint\n" * 100,
    })
    script = io.BytesIO()
    with warnings.catch_warnings():  # torch calls its own TorchScript API deprecated: not a finding here
        warnings.simplefilter("ignore", FutureWarning)
        torch.jit.save(torch.jit.script(build_architecture("lenet5")), script)
    files["scripted.pt"] = script.getvalue()
    files.update({f"trunc{int(f * 100)}-scripted.pt": script.getvalue()[: int(len(script.getvalue()) * f)]
                  for f in TRUNCATIONS})
    files.update(onnx_files())
    return files


def onnx_files() -> dict[str, bytes]:
    """LeNet-5 as ONNX, damaged: truncations, bit flips, a tensor that claims a billion values, weights said
    to lie outside the file's folder (none without the onnx extra: the route is then one sentence)."""
    try:
        import onnx
        from onnx import helper, numpy_helper
    except ImportError:
        return {}
    out = io.BytesIO()
    with warnings.catch_warnings(), open(os.devnull, "w") as sink:
        warnings.simplefilter("ignore")
        stdout, sys.stdout = sys.stdout, sink
        try:
            torch.onnx.export(build_architecture("lenet5").eval(), (torch.zeros(1, 1, 28, 28),), out, dynamo=False)
        finally:
            sys.stdout = stdout
    good = out.getvalue()
    files = {k + ".onnx": v for k, v in _variants("lenet", good, flips=20).items()}
    model = onnx.load_from_string(good)
    huge = onnx.load_from_string(good)
    first = huge.graph.initializer[0]
    del first.dims[:]
    first.dims.extend([10**9])
    files["huge-dims.onnx"] = huge.SerializeToString()
    outside = onnx.load_from_string(good)
    tensor = outside.graph.initializer[0]
    tensor.data_location = onnx.TensorProto.EXTERNAL
    tensor.ClearField("raw_data")
    for key, value in (("location", "../../../../etc/passwd"), ("offset", "0"), ("length", "64")):
        entry = tensor.external_data.add()
        entry.key, entry.value = key, value
    files["external-outside.onnx"] = outside.SerializeToString()
    node = helper.make_node("Conv", ["input", "missing_weight"], ["y"])
    graph = helper.make_graph([node], "g", [model.graph.input[0]],
                              [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, None)],
                              [numpy_helper.from_array(np.zeros((1,), np.float32), "unused")])
    files["dangling-input.onnx"] = helper.make_model(graph).SerializeToString()
    return files


def kernel_files() -> dict[str, bytes]:
    texts = {
        "nan": '{"kernels": [{"name": "a", "weights": [[NaN, 1]]}]}', "inf": "[[Infinity]]", "neg-inf": "[[-Infinity]]",
        "1e999": "[[1e999, 0]]", "string": '[["one", 2]]', "null": "[[null]]", "bool": "[[true, false]]",
        "ragged": "[[1, 2], [3]]", "too-big": json.dumps([[0] * 10] * 10), "too-wide": json.dumps([[0] * 12]),
        "deep": "[" * 50000 + "]" * 50000, "empty-file": "", "empty-list": "[]", "empty-rows": "[[]]",
        "object": '{"a": 1}', "no-weights": '{"kernels": [{"name": "x"}]}', "too-many": json.dumps(
            {"kernels": [{"name": str(i), "weights": [[1]]} for i in range(40)]}), "number": "42",
        "string-top": '"hello"', "unclosed": '{"kernels": [', "nested-weights": "[[[1]]]",
        "huge-number": "[[" + "9" * 400 + "]]", "dict-weights": '{"weights": {"a": 1}}',
    }
    files = {f"{name}.json": text.encode() for name, text in texts.items()}
    files["binary.json"] = os.urandom(300)
    files["latin1.json"] = "[[1, 2]] é".encode("latin-1")
    valid = json.dumps({"kernels": [{"name": "sobel", "weights": [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]}]}).encode()
    files.update({k + ".json": v for k, v in _variants("bank", valid, flips=60).items()})
    return files


def idx_files() -> dict[str, bytes]:
    images = np.zeros((5, 28, 28), np.uint8)
    good = bytes([0, 0, 8, 3]) + b"".join(d.to_bytes(4, "big") for d in images.shape) + images.tobytes()
    files = {
        "magic": b"\x01\x02" + good[2:], "type": good[:2] + b"\x07" + good[3:], "dims0": good[:3] + b"\x00" + good[4:],
        "dims9": good[:3] + b"\x09" + good[4:], "short": good[:-10], "long": good + b"\x00" * 10,
        "huge-header": bytes([0, 0, 8, 3]) + (10**6).to_bytes(4, "big") * 3, "empty": b"", "garbage": os.urandom(99),
        "bad-gzip": b"\x1f\x8b" + os.urandom(200), "gz-short": gzip.compress(good[:-5]),
    }
    files.update(_variants("images", good, flips=40))
    return {f"{name}-idx3-ubyte": data for name, data in files.items()}


def build_corpus(root: Path) -> tuple[list[tuple[str, Path]], Path]:
    """Write the corpus under ``root``; returns (kind, path) pairs and the canary folder."""
    canaries = root / "canaries"
    canaries.mkdir(parents=True, exist_ok=True)
    items = []
    for kind, files in (("image", image_files()), ("model", model_files(canaries)), ("kernel", kernel_files()),
                        ("idx", idx_files())):
        folder = root / kind
        folder.mkdir(exist_ok=True)
        for name, data in files.items():
            path = folder / name
            path.write_bytes(data)
            items.append((kind, path))
    return items, canaries


LOADERS: dict[str, Callable[[Path], object]] = {
    "image": read_image,
    "model": lambda p: load_model(p, "cpu", arch="lenet5"),
    "kernel": load_bank,
    "idx": read_idx,
}


#: A digit every command that needs an image reads when the corpus file is something else.
GOOD_IMAGE = Path(__file__).resolve().parents[1] / "assets" / "samples" / "digits" / "3.png"


def cli_argv(kind: str, path: Path, work: Path) -> list[str]:
    """The ``cnnviz`` command line that reads ``path`` the way a user would give it."""
    if kind == "image":
        return ["predict", str(path), "--model", "lenet5"]
    if kind == "model":
        return ["predict", str(GOOD_IMAGE), "--model", str(path), "--arch", "lenet5"]
    if kind == "kernel":
        return ["kernel", str(GOOD_IMAGE), "-k", str(path), "--out", str(work / "kernel-out")]
    if kind == "idx":  # a data root whose test images are this file, with good labels beside it
        root = work / "idx-roots" / path.name
        root.mkdir(parents=True, exist_ok=True)
        (root / "t10k-images-idx3-ubyte").write_bytes(path.read_bytes())
        labels = bytes([0, 0, 8, 1]) + (5).to_bytes(4, "big") + bytes(5)
        (root / "t10k-labels-idx1-ubyte").write_bytes(labels)
        return ["evaluate", "--model", "lenet5", "--dataset", "mnist", "--data-root", str(root)]
    raise ValueError(kind)


def special_files(root: Path) -> dict[str, Path]:
    """What must be refused by a stat before any open: reading a pipe with no writer blocks forever."""
    import socket

    root.mkdir(parents=True, exist_ok=True)
    files = {"fifo": root / "fifo.png", "socket": root / "socket.png", "dev-zero": root / "zero.png",
             "folder": root / "folder.png"}
    os.mkfifo(files["fifo"])
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(files["socket"]))  # the socket file stays after the socket is closed
    server.close()
    files["dev-zero"].symlink_to("/dev/zero")
    files["folder"].mkdir()
    return files


def run_corpus(items: list[tuple[str, Path]], canaries: Path) -> Report:
    from cnnviz.core.models.zoo import registry

    registry()  # one-time start-up (imports, the zoo) is not what a refusal costs
    try:
        import onnx2torch  # noqa: F401 - (likewise: imported by the first ONNX file otherwise)
    except ImportError:
        pass
    report = Report()
    before = {p.name for p in canaries.iterdir()}
    for kind, path in items:
        tracemalloc.start()
        start = time.perf_counter()
        try:
            LOADERS[kind](path)
            result, message = "loaded", ""
        except CnnvizError as exc:
            result, message = "refused", str(exc)
        except Exception as exc:  # noqa: BLE001 - this is what the corpus hunts for
            result, message = "crash", f"{type(exc).__name__}: {exc}"
        seconds = time.perf_counter() - start
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        report.outcomes.append(Outcome(kind, path, result, seconds, peak, message))
    report.executions = len({p.name for p in canaries.iterdir()} - before)
    return report


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        corpus, canary_folder = build_corpus(Path(folder))
        result = run_corpus(corpus, canary_folder)
        print(result.summary())
        for outcome in result.outcomes:
            if outcome.result == "crash":
                print("CRASH", outcome.kind, outcome.path.name, outcome.message, file=sys.stderr)
