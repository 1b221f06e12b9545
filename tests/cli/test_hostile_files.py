"""Hostile files and injected faults: a clear sentence, nothing executed, nothing lost, and nothing on
stderr but cnnviz's own sentence (no library warning, no decoder message, no hang on a named pipe)."""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys
import threading
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import torch

import cnnviz
from cnnviz.cli import main
from cnnviz.core.data.imageio import DAMAGED_NOTE, read_image
from cnnviz.core.errors import ImageError, ModelError
from cnnviz.core.fileio import DEBUG_ENV
from cnnviz.core.lab.kernels import preset, save_bank

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/hostile.py, a helper module
from hostile import (  # noqa: E402
    GOOD_IMAGE,
    build_corpus,
    cli_argv,
    jpeg_with_extraneous_bytes,
    png_with_idat_garbage,
    run_corpus,
    special_files,
)

#: A named pipe blocks whoever opens it until a writer comes: a regression must fail, not hang CI.
HANG_LIMIT_S = 20
posix_only = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes, Unix sockets and /dev")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return build_corpus(tmp_path_factory.mktemp("corpus"))


def test_hostile_corpus_is_refused_cleanly_and_runs_no_code(corpus, capfd):
    items, canaries = corpus
    with warnings.catch_warnings(record=True) as escaped:
        warnings.simplefilter("always")
        report = run_corpus(items, canaries)
    _out, err = capfd.readouterr()
    with capfd.disabled():
        print("\n" + report.summary())
    crashes = [(o.kind, o.path.name, o.message) for o in report.outcomes if o.result == "crash"]
    assert len(report.outcomes) >= 500
    assert crashes == []
    assert report.executions == 0 and sorted(p.name for p in canaries.iterdir()) == ["script.py"]
    refusals = [o for o in report.outcomes if o.result == "refused"]
    assert all("\n" not in o.message and o.message for o in refusals)
    evil = [o for o in report.outcomes if o.path.name.startswith("evil-")]
    assert evil and all(o.result == "refused" for o in evil)
    results = {o.path.name: o.result for o in report.outcomes}
    assert results["state-protocol4.pt"] == "refused" and results["scripted.pt"] == "refused"
    assert [n for n in ("size-1x1.png", "size-2x2.png", "size-3x3.png", "size-1000000x1.png",
                        "size-1x100000.png", "size-600x5.png") if results[n] != "refused"] == []
    assert results["size-4x4.png"] == results["size-400x4.png"] == "loaded"
    assert results["idat-garbage.png"] == results["extraneous.jpg"] == "loaded"
    # what the libraries said stayed inside cnnviz: no warning escaped, nothing reached file descriptor 2
    assert [f"{w.category.__name__}: {w.message}" for w in escaped] == []
    assert err == ""


def _run_cli(argv: list[str], capfd) -> tuple[int, str, str, list[str]]:
    """``cnnviz ARGV`` in this process: exit status, stdout, stderr (file descriptors, so C output too) and
    the Python warnings that escaped (pytest would otherwise collect them before they reach stderr)."""
    with warnings.catch_warnings(record=True) as escaped:
        warnings.simplefilter("always")
        code = main(argv)
    out, err = capfd.readouterr()
    return code, out, err, [f"{w.category.__name__}: {w.message}" for w in escaped]


def _one_error_line(err: str) -> bool:
    return err.startswith("cnnviz: error: ") and err.count("\n") == 1 and err.endswith("\n")


def test_every_corpus_file_through_the_command_line(corpus, tmp_path, capfd, monkeypatch):
    """Exit 2 with exactly one 'cnnviz: error:' line, or exit 0 with nothing at all on stderr."""
    monkeypatch.delenv(DEBUG_ENV, raising=False)
    items, canaries = corpus
    problems = []
    for kind, path in items:
        code, out, err, escaped = _run_cli(cli_argv(kind, path, tmp_path), capfd)
        ok = (code == 2 and _one_error_line(err)) or (code == 0 and err == "" and out)
        if not ok or escaped:
            problems.append((kind, path.name, code, err[:300], escaped[:2]))
    assert problems == []
    assert sorted(p.name for p in canaries.iterdir()) == ["script.py"]


def _process_cases(root: Path) -> dict[str, tuple[list[str], int]]:
    """Case name -> (cnnviz arguments, time limit in seconds), each run as a user runs it: in its own process,
    with the real stderr (no pytest in between) and a time limit, since a named pipe would block a reader."""
    (root / "idat-garbage.png").write_bytes(png_with_idat_garbage())
    (root / "extraneous.jpg").write_bytes(jpeg_with_extraneous_bytes())
    evil = root / "evil-protocol4.pt"
    torch.save({"state_dict": {"w": _Payload(root / "canary")}}, evil, pickle_protocol=4)
    cases = {
        "damaged-but-shown": (["predict", str(root / "idat-garbage.png"), str(root / "extraneous.jpg"),
                               "--model", "lenet5"], 120),
        "pickle-protocol-4": (["predict", str(GOOD_IMAGE), "--model", str(evil), "--arch", "lenet5"], 120),
    }
    if hasattr(os, "mkfifo"):
        cases["fifo"] = (["predict", str(special_files(root / "special")["fifo"]), "--model", "lenet5"], HANG_LIMIT_S)
    return cases


class _Payload:
    def __init__(self, canary: Path) -> None:
        self.canary = canary

    def __reduce__(self):
        return os.system, (f"touch {self.canary}",)


@pytest.fixture(scope="module")
def cli_runs(tmp_path_factory):
    """The process cases, two at a time; None for a run that passed its time limit (it was killed)."""
    root = tmp_path_factory.mktemp("processes")
    cases = _process_cases(root)
    env = {k: v for k, v in os.environ.items() if k != DEBUG_ENV} | {"CNNVIZ_OFFLINE": "1"}

    def run(item: tuple[str, tuple[list[str], int]]) -> tuple[str, subprocess.CompletedProcess | None]:
        name, (argv, limit) = item
        try:
            return name, subprocess.run([sys.executable, "-m", "cnnviz", *argv], capture_output=True, text=True,
                                        timeout=limit, env=env)
        except subprocess.TimeoutExpired:
            return name, None

    with ThreadPoolExecutor(max_workers=2) as pool:
        runs = dict(pool.map(run, cases.items()))
    assert not (root / "canary").exists()
    return runs


@posix_only
def test_a_named_pipe_is_refused_by_a_stat_not_read(cli_runs):
    result = cli_runs["fifo"]
    assert result is not None, f"cnnviz predict fifo.png hung for {HANG_LIMIT_S} s"
    assert result.returncode == 2 and result.stderr == (
        "cnnviz: error: fifo.png is a named pipe, not a file; give the path of an image file.\n")


def test_damaged_images_are_shown_with_a_note_and_stderr_stays_empty(cli_runs):
    result = cli_runs["damaged-but-shown"]
    assert result is not None and result.returncode == 0 and result.stderr == ""
    assert result.stdout.count(f"note: {DAMAGED_NOTE}") == 2


def test_a_pickle_protocol_4_checkpoint_is_one_sentence_without_torch_warning(cli_runs):
    result = cli_runs["pickle-protocol-4"]
    assert result is not None and result.returncode == 2 and _one_error_line(result.stderr), result.stderr
    assert "pickled Python objects" in result.stderr and "Warning" not in result.stderr


def test_torchscript_refused_or_trusted_without_torch_warnings(tmp_path, capfd, monkeypatch):
    from hostile import model_files

    monkeypatch.delenv(DEBUG_ENV, raising=False)
    path = tmp_path / "scripted.pt"
    path.write_bytes(model_files(tmp_path)["scripted.pt"])
    code, _out, err, escaped = _run_cli(["predict", str(GOOD_IMAGE), "--model", str(path)], capfd)
    assert code == 2 and _one_error_line(err) and "TorchScript archive" in err and escaped == []
    code, out, err, escaped = _run_cli(["predict", str(GOOD_IMAGE), "--model", str(path), "--trust-file"], capfd)
    assert code == 0 and err == "" and escaped == [] and "trusted" in out  # no "torch.jit.load is deprecated"


def test_debug_lets_the_library_noise_through(tmp_path, capfd, monkeypatch):
    monkeypatch.delenv(DEBUG_ENV, raising=False)
    png = tmp_path / "idat-garbage.png"
    png.write_bytes(png_with_idat_garbage())
    code, out, err, _escaped = _run_cli(["--debug", "predict", str(png), "--model", "lenet5"], capfd)
    assert code == 0 and "libpng warning" in err and DAMAGED_NOTE in out
    checkpoint = tmp_path / "state-protocol4.pt"
    torch.save(cnnviz.load_model("lenet5", "cpu").state_dict(), checkpoint, pickle_protocol=4)
    with warnings.catch_warnings(record=True) as shown, pytest.raises(ModelError):  # the traceback, not the sentence
        warnings.simplefilter("always")
        main(["--debug", "predict", str(png), "--model", str(checkpoint), "--arch", "lenet5"])
    assert any("pickle protocol 4" in str(w.message) for w in shown)  # torch's own warning, passed on
    assert DEBUG_ENV not in os.environ  # the switch lasts one run


def _within_limit(argv: list[str], capfd, unblock: Path | None = None) -> tuple[int, str, str, list[str]]:
    """``_run_cli`` on a thread joined with a time limit; a reader stuck on a pipe is let go and fails."""
    box: dict[str, tuple] = {}
    thread = threading.Thread(target=lambda: box.setdefault("r", _run_cli(argv, capfd)), daemon=True)
    thread.start()
    thread.join(HANG_LIMIT_S)
    if thread.is_alive() and unblock is not None:
        with open(unblock, "wb"):  # a writer arrives: the stuck reader sees end of file and returns
            pass
        thread.join(HANG_LIMIT_S)
    assert "r" in box, f"cnnviz {' '.join(argv)} hung for {HANG_LIMIT_S} s"
    return box["r"]


@posix_only
@pytest.mark.parametrize("kind", ["fifo", "socket", "dev-zero", "folder"])
def test_special_files_everywhere_the_command_line_reads_a_path(kind, tmp_path, capfd, monkeypatch):
    monkeypatch.delenv(DEBUG_ENV, raising=False)
    special = special_files(tmp_path / "special")[kind]
    root = tmp_path / "root"
    root.mkdir()
    os.symlink(special, root / "t10k-images-idx3-ubyte")
    good = str(GOOD_IMAGE)
    commands = [["predict", str(special), "--model", "lenet5"],
                ["summary", str(special), "--arch", "lenet5"],
                ["predict", good, "--model", str(special), "--arch", "lenet5"],
                ["render", str(special), "--model", "lenet5", "--out", str(tmp_path / "out")],
                ["kernel", str(special), "-k", "sobel-x", "--out", str(tmp_path / "out")],
                ["kernel", good, "-k", str(special), "--out", str(tmp_path / "out")],
                ["evaluate", "--model", "lenet5", "--dataset", "mnist", "--data-root", str(root)]]
    if kind != "folder":  # a folder is what a data root should be
        commands.append(["evaluate", "--model", "lenet5", "--dataset", "folder", "--data-root", str(special)])
    for argv in commands:
        code, _out, err, escaped = _within_limit(argv, capfd, special if kind == "fifo" else None)
        assert code == 2 and _one_error_line(err) and escaped == [], (argv, err)
        assert "not a file; give the path of" in err or "not a folder; give the path of" in err, (argv, err)


def test_huge_model_file_is_refused_before_reading(tmp_path):
    path = tmp_path / "huge.pt"
    with path.open("wb") as handle:
        handle.truncate(5 * 1024**3)  # sparse: costs no disk
    with pytest.raises(ModelError, match="larger than any model"):
        cnnviz.load_model(path, "cpu", arch="lenet5")


def _pil_bytes(image, fmt, **kwargs) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **kwargs)
    return out.getvalue()


def test_float_tiff_palette_exif_and_animated_gif(tmp_path):
    from PIL import Image

    (tmp_path / "f.tiff").write_bytes(_pil_bytes(Image.fromarray(np.linspace(0, 1, 64, dtype=np.float32).reshape(8, 8)),
                                                 "TIFF"))
    image = read_image(tmp_path / "f.tiff")
    assert image.rgb.dtype == np.uint8 and image.rgb[7, 7, 0] == 255
    (tmp_path / "p.png").write_bytes(_pil_bytes(Image.new("RGB", (6, 4), (255, 0, 0)).convert("P"), "PNG"))
    assert read_image(tmp_path / "p.png").rgb[0, 0].tolist() == [255, 0, 0]
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    (tmp_path / "r.jpg").write_bytes(_pil_bytes(Image.new("RGB", (40, 20), (0, 0, 0)), "JPEG", exif=exif))
    rotated = read_image(tmp_path / "r.jpg")
    assert rotated.rgb.shape[:2] == (40, 20) and any("EXIF" in n for n in rotated.notes)
    frames = [Image.new("L", (10, 10), v) for v in (0, 200)]
    (tmp_path / "a.gif").write_bytes(_pil_bytes(frames[0], "GIF", save_all=True, append_images=frames[1:]))
    gif = read_image(tmp_path / "a.gif")
    assert gif.rgb[0, 0, 0] == 0 and any("first frame" in n for n in gif.notes)


def test_cli_refuses_a_malicious_checkpoint_without_running_it(tmp_path, capsys):
    import os

    from cnnviz.cli import main

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {tmp_path / 'canary'}",))

    path = tmp_path / "evil.pth"
    torch.save({"state_dict": Payload()}, path)
    assert main(["predict", str(tmp_path / "x.png"), "--model", str(path), "--arch", "lenet5"]) == 2
    err = capsys.readouterr().err
    assert "pickled Python objects" in err and "--trust-file" in err and not (tmp_path / "canary").exists()


def test_refused_save_keeps_the_old_file_byte_identical(tmp_path, monkeypatch):
    path = tmp_path / "bank.json"
    save_bank(path, [preset("sobel-x")])
    digest = hashlib.sha256(path.read_bytes()).hexdigest()

    def denied(*_args, **_kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr("os.replace", denied)
    with pytest.raises(PermissionError):
        save_bank(path, [preset("emboss")])
    assert hashlib.sha256(path.read_bytes()).hexdigest() == digest
    assert [p.name for p in tmp_path.iterdir()] == ["bank.json"]


def test_image_larger_than_kernel_and_tiny_input_name_the_stage():
    from cnnviz.core.errors import InputMismatchError

    model = cnnviz.load_model("frnet", "cpu")
    with pytest.raises(InputMismatchError, match="conv"):
        cnnviz.capture(model, torch.rand(1, 1, 3, 3))


def test_image_error_is_one_sentence(tmp_path):
    path = tmp_path / "x.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    with pytest.raises(ImageError) as info:
        read_image(path)
    assert "\n" not in str(info.value)
