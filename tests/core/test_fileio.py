"""Every reader of a user's path stats it before opening it, and library noise stays off stderr.

A named pipe blocks whoever opens it for reading until a writer comes, so each reader here runs on a
thread joined with a time limit: a regression fails the test instead of hanging the run.
"""

from __future__ import annotations

import ctypes
import os
import socket
import stat
import sys
import threading
import warnings
from collections.abc import Callable
from pathlib import Path

import pytest

from cnnviz.core.data.datasets import load_cifar10, load_folder, load_idx_dataset, read_idx
from cnnviz.core.data.imageio import read_image
from cnnviz.core.errors import DatasetError, ImageError, KernelError, ModelError, SessionError
from cnnviz.core.fileio import DEBUG_ENV, existing_folder, quiet, read_small_text, regular_file
from cnnviz.core.lab.kernels import load_bank, resolve_kernel
from cnnviz.core.models import model_io
from cnnviz.core.teach.session import load_session

HANG_LIMIT_S = 20
#: Named pipes, Unix sockets and /dev are POSIX things (Windows has its own devices, such as NUL).
posix_only = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes, Unix sockets and /dev")
KINDS = ("fifo", "socket", "dev-zero", "dev-null", "folder")
#: What the sentence calls each (the readers of a data root meet them through a link, and say so).
SAYS = {"fifo": "a named pipe", "socket": "a socket", "dev-zero": "links to /dev/zero, a character device",
        "dev-null": "links to /dev/null, a character device", "folder": "a folder"}


def make_special(folder: Path, kind: str, name: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "socket":
        server = socket.socket(socket.AF_UNIX)
        server.bind(str(path))
        server.close()
    elif kind in ("dev-zero", "dev-null"):
        path.symlink_to("/dev/" + kind.removeprefix("dev-"))
    else:
        path.mkdir()
    return path


def within_limit(call: Callable[[], object], fifo: Path | None = None) -> BaseException | None:
    """Run ``call`` on a thread joined with a time limit; the exception it raised (None if it returned)."""
    box: dict[str, BaseException | None] = {}

    def target() -> None:
        try:
            call()
            box["raised"] = None
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            box["raised"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(HANG_LIMIT_S)
    if thread.is_alive() and fifo is not None:
        with open(fifo, "wb"):  # a writer comes: the stuck reader sees end of file and goes on
            pass
        thread.join(HANG_LIMIT_S)
    assert "raised" in box, f"the reader hung for {HANG_LIMIT_S} s"
    return box["raised"]


def _idx_root(root: Path, special: Path) -> Path:
    root.mkdir()
    (root / "t10k-images-idx3-ubyte").symlink_to(special)
    return root


def _cifar_root(root: Path, special: Path) -> Path:
    (root / "cifar-10-batches-py").mkdir(parents=True)
    (root / "cifar-10-batches-py" / "test_batch").symlink_to(special)
    return root


def _class_folder(root: Path, special: Path) -> Path:
    (root / "cats").mkdir(parents=True)
    (root / "cats" / "tom.png").symlink_to(special)
    return root


#: Every reader of a path in core: (name, error type, call on the special path, the sentence's "give ...").
READERS = [
    ("read_image", ImageError, read_image, "an image file"),
    ("load_model", ModelError, lambda p: model_io.load_model(p, "cpu", arch="lenet5"), "a model file"),
    ("load_model_file", ModelError, lambda p: model_io.load_model_file(p, arch="lenet5"), "a model file"),
    ("read_checkpoint", ModelError, model_io.read_checkpoint, "a model file"),
    ("read_safetensors", ModelError, model_io.read_safetensors, "a model file"),
    ("is_torchscript", ModelError, model_io.is_torchscript, "a model file"),
    ("load_bank", KernelError, load_bank, "a kernel file"),
    ("resolve_kernel", KernelError, lambda p: resolve_kernel(str(p)), "a kernel file"),
    ("load_session", SessionError, load_session, "a session file"),
    ("read_small_text", KernelError, lambda p: read_small_text(p, 1024, "kernel file", KernelError), "a kernel file"),
    ("read_idx", DatasetError, read_idx, "an IDX file"),
    ("load_idx_dataset", DatasetError, lambda p: load_idx_dataset(_idx_root(p.parent / "root", p), "mnist", False),
     "an IDX file"),
    ("load_cifar10", DatasetError, lambda p: load_cifar10(_cifar_root(p.parent / "root", p), False),
     "a CIFAR-10 file"),
    ("load_folder", DatasetError, lambda p: load_folder(_class_folder(p.parent / "root", p)), "an image file"),
]


@posix_only
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("reader", READERS, ids=[r[0] for r in READERS])
def test_every_reader_refuses_what_is_not_a_regular_file_before_opening_it(tmp_path, reader, kind):
    _name, error, call, expected = reader
    special = make_special(tmp_path / "in", kind, "input.png")
    raised = within_limit(lambda: call(special), special if kind == "fifo" else None)
    assert isinstance(raised, error), repr(raised)
    message = str(raised)
    assert SAYS[kind] in message and f"not a file; give the path of {expected}" in message
    assert "\n" not in message


@posix_only
def test_regular_file_sentences(tmp_path):
    path = tmp_path / "fifo.png"
    os.mkfifo(path)
    with pytest.raises(ImageError) as info:
        regular_file(path, "image file", ImageError)
    assert str(info.value) == "fifo.png is a named pipe, not a file; give the path of an image file."
    with pytest.raises(ModelError) as info:
        regular_file(tmp_path, "model file", ModelError, ".safetensors, .pt or .pth")
    assert str(info.value).endswith("is a folder, not a file; give the path of a model file "
                                    "(.safetensors, .pt or .pth).")
    with pytest.raises(KernelError, match=r"^Kernel file .*missing\.json does not exist\.$"):
        regular_file(tmp_path / "missing.json", "kernel file", KernelError)
    (tmp_path / "dangling.png").symlink_to(tmp_path / "gone.png")
    with pytest.raises(ImageError, match="does not exist"):
        regular_file(tmp_path / "dangling.png", "image file", ImageError)
    (tmp_path / "loop.png").symlink_to(tmp_path / "loop.png")
    with pytest.raises(ImageError, match="loop.png cannot be read"):
        regular_file(tmp_path / "loop.png", "image file", ImageError)
    good = tmp_path / "good.png"
    good.write_bytes(b"12345")
    (tmp_path / "link.png").symlink_to(good)  # a link to a regular file is a regular file
    assert regular_file(tmp_path / "link.png", "image file", ImageError).st_size == 5


def _block_device() -> Path | None:
    for name in sorted(os.listdir("/dev")) if os.path.isdir("/dev") else []:
        path = Path("/dev", name)
        try:
            if stat.S_ISBLK(os.lstat(path).st_mode):
                return path
        except OSError:
            continue
    return None


def test_a_block_device_is_named():
    device = _block_device()
    if device is None:
        pytest.skip("no block device on this machine")
    with pytest.raises(ImageError, match=f"{device.name} is a block device, not a file"):
        read_image(device)


@posix_only
def test_existing_folder_refuses_a_pipe_and_a_file(tmp_path):
    assert existing_folder(tmp_path, "data root", DatasetError) == tmp_path
    with pytest.raises(DatasetError, match="^Data root .* does not exist.$"):
        existing_folder(tmp_path / "nope", "data root", DatasetError)
    fifo = make_special(tmp_path, "fifo", "pipe")
    raised = within_limit(lambda: load_idx_dataset(fifo, "mnist", False), fifo)
    assert isinstance(raised, DatasetError)
    assert str(raised) == "pipe is a named pipe, not a folder; give the path of a data root."
    (tmp_path / "file").write_bytes(b"x")
    with pytest.raises(DatasetError, match="file is a file, not a folder"):
        load_folder(tmp_path / "file")


# ---- library noise -----------------------------------------------------------------------------
def _c_write_to_stderr(text: bytes) -> None:
    """What libpng does: C code writing on file descriptor 2, which Python's sys.stderr never sees."""
    libc = ctypes.CDLL(None)
    libc.write(2, text, len(text))


@pytest.fixture
def no_debug(monkeypatch):
    monkeypatch.delenv(DEBUG_ENV, raising=False)


@pytest.mark.skipif(sys.platform == "win32", reason="the C library is not reachable as CDLL(None)")
def test_quiet_keeps_c_stderr_and_python_warnings_and_puts_fd_2_back(capfd, no_debug):
    with warnings.catch_warnings(record=True) as escaped:
        warnings.simplefilter("always")
        with quiet(c_stderr=True) as noise:
            _c_write_to_stderr(b"libpng warning: IDAT: Too much image data\n")
            warnings.warn("Detected pickle protocol 4", UserWarning, stacklevel=1)
    assert noise.stderr == "libpng warning: IDAT: Too much image data\n" and bool(noise)
    assert [str(w.message) for w in noise.warnings] == ["Detected pickle protocol 4"]
    assert escaped == [] and capfd.readouterr().err == ""
    _c_write_to_stderr(b"after\n")  # fd 2 is the real stderr again
    assert capfd.readouterr().err == "after\n"


def test_quiet_puts_fd_2_back_when_the_body_raises(capfd, no_debug):
    before = os.fstat(2)
    with pytest.raises(ImageError), quiet(c_stderr=True):
        os.write(2, b"noise\n")
        raise ImageError("refused")
    after = os.fstat(2)
    assert (before.st_dev, before.st_ino) == (after.st_dev, after.st_ino)
    assert capfd.readouterr().err == ""


def test_quiet_passes_the_noise_on_with_debug(capfd, monkeypatch):
    monkeypatch.setenv(DEBUG_ENV, "1")
    with warnings.catch_warnings(record=True) as shown:
        warnings.simplefilter("always")
        with quiet(c_stderr=True) as noise:
            os.write(2, b"Corrupt JPEG data: 96 extraneous bytes before marker 0xd9\n")
            warnings.warn("torch.jit.load is deprecated", FutureWarning, stacklevel=1)
    assert "Corrupt JPEG data" in capfd.readouterr().err and "Corrupt JPEG" in noise.stderr
    assert [str(w.message) for w in shown] == ["torch.jit.load is deprecated"]


def test_quiet_sections_on_two_threads_do_not_tangle_fd_2(capfd, no_debug):
    """One section at a time: interleaved, they would leave fd 2 pointing at a temporary file."""
    before = os.fstat(2)
    errors: list[BaseException] = []

    def decode_many() -> None:
        try:
            for _ in range(50):
                with quiet(c_stderr=True) as noise:
                    os.write(2, b"x\n")
                assert noise.stderr == "x\n"
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=decode_many) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(HANG_LIMIT_S)
    assert not any(t.is_alive() for t in threads) and errors == []
    after = os.fstat(2)
    assert (before.st_dev, before.st_ino) == (after.st_dev, after.st_ino) and capfd.readouterr().err == ""
