"""Reading and writing the files cnnviz is given: a stat before any open (a named pipe, a socket or
a device is refused in words instead of hanging the reader), bounded reads with a sentence on
failure, atomic writes that never leave half a file behind, and the libraries' own chatter kept
off the user's stderr.

Library noise: OpenCV's decoders (libpng, libjpeg) write warnings from C straight to file
descriptor 2, and torch and Pillow raise Python warnings while loading. Inside :func:`quiet`
both are collected instead of shown, so the caller can turn them into a note (or drop them when a
refusal follows). With ``CNNVIZ_DEBUG`` set (the CLI sets it for ``--debug``) they are still
collected, and then passed on to stderr as they were.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
import stat
import sys
import tempfile
import threading
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

#: Set (to anything but "" or "0") to let library warnings and decoder messages through to stderr.
DEBUG_ENV = "CNNVIZ_DEBUG"
#: At most this much of what a library wrote on stderr is kept (a damaged file can make it chatter).
MAX_NOISE_BYTES = 64 * 1024


def _article(noun: str) -> str:
    return f"an {noun}" if noun[:1].lower() in "aeiou" else f"a {noun}"


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a named pipe"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    return "a special file" if not stat.S_ISREG(mode) else "a file"


def _missing(what: str, path: Path) -> str:
    return f"{what[:1].upper()}{what[1:]} {path} does not exist."


def _display_name(path: Path) -> str:
    return path.name or str(path)


def _what_it_is(path: Path, mode: int) -> str:
    """'fifo.png is a named pipe' or, through a symbolic link, 'zero.png links to /dev/zero, a character device'."""
    name, kind = _display_name(path), _kind(mode)
    if path.is_symlink():
        return f"{name} links to {os.path.realpath(path)}, {kind}"
    return f"{name} is {kind}"


def regular_file(path: str | os.PathLike[str], what: str, error: type[Exception],
                 suffixes: str = "") -> os.stat_result:
    """Stat ``path`` (following links) and refuse anything but a regular file, before anything opens it.

    ``what`` names the expected file ("image file"); ``suffixes`` may add the usual endings
    (".safetensors, .pt or .pth"). A missing file raises ``error("<What> <path> does not exist.")``;
    a folder, named pipe, socket or device raises a sentence that says what the path is and what to
    give instead. Returns the stat result (its size is what callers check next)."""
    path = Path(path)
    try:
        info = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        raise error(_missing(what, path)) from None
    except OSError as exc:  # a symbolic-link loop, a permission refused on a folder on the way, ...
        raise error(f"{_display_name(path)} cannot be read ({exc.strerror or exc}).") from None
    except ValueError:  # an embedded NUL character
        raise error(f"{what[:1].upper()}{what[1:]} {path!r} is not a valid path.") from None
    if not stat.S_ISREG(info.st_mode):
        expected = _article(what) + (f" ({suffixes})" if suffixes else "")
        raise error(f"{_what_it_is(path, info.st_mode)}, not a file; give the path of {expected}.")
    return info


def existing_folder(path: str | os.PathLike[str], what: str, error: type[Exception]) -> Path:
    """``path`` if it is a folder (following links), else ``error`` with a sentence (missing, or what it is)."""
    path = Path(path)
    try:
        info = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        raise error(_missing(what, path)) from None
    except (OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        raise error(f"{what[:1].upper()}{what[1:]} {path} cannot be read ({reason}).") from None
    if not stat.S_ISDIR(info.st_mode):
        raise error(f"{_what_it_is(path, info.st_mode)}, not a folder; give the path of {_article(what)}.")
    return path


def read_bounded(handle: BinaryIO, size: int, limit: int) -> bytes:
    """The contents of an open file whose stat said ``size`` bytes, but never more than ``limit + 1`` bytes
    (so a caller sees that a file which grew since the stat is too large). Reading ``size + 1`` first, not
    ``limit + 1``: a read of n bytes sets n bytes aside before it reads any."""
    data = handle.read(min(size, limit) + 1)
    if len(data) <= size:
        return data
    chunks, total = [data], len(data)
    while total <= limit and (chunk := handle.read(min(1 << 20, limit + 1 - total))):
        chunks.append(chunk)
        total += len(chunk)
    return b"".join(chunks)


def read_small_text(path: Path, max_bytes: int, what: str, error: type[Exception]) -> str:
    """A UTF-8 text file of at most ``max_bytes`` (checked before reading), or ``error`` with a sentence."""
    limit = f"{max_bytes // 1024**2} MB" if max_bytes >= 1024**2 else f"{max_bytes // 1024} KB"
    too_large = f"{path.name} is larger than any {what} ({limit} max)."
    size = regular_file(path, what, error).st_size
    if size > max_bytes:
        raise error(too_large)
    try:
        with path.open("rb") as handle:
            data = read_bounded(handle, size, max_bytes)
    except FileNotFoundError:
        raise error(_missing(what, path)) from None
    except OSError as exc:
        raise error(f"{path.name} cannot be read as {_article(what)} ({exc.strerror or exc}).") from None
    if len(data) > max_bytes:
        raise error(too_large)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise error(f"{path.name} cannot be read as {_article(what)} ({exc}).") from None


def atomic_write(path: Path, write: Callable[[BinaryIO], object]) -> None:
    """``write(file)`` into a temporary file in the same folder, fsync, then rename it over ``path``: a
    failed or killed write leaves any earlier file as it was, never half a file."""
    handle, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=str(path.parent))
    try:
        with os.fdopen(handle, "wb") as out:
            write(out)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write(path, lambda out: out.write(text.encode("utf-8")))


# ---- library noise -----------------------------------------------------------------------------
def debug_enabled() -> bool:
    """Whether library noise should reach stderr (``CNNVIZ_DEBUG``; ``cnnviz --debug`` sets it)."""
    return os.environ.get(DEBUG_ENV, "") not in ("", "0")


@dataclass
class Noise:
    """What the libraries said inside :func:`quiet`: C text written on stderr, and Python warnings."""

    stderr: str = ""
    warnings: list[warnings.WarningMessage] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.stderr.strip() or self.warnings)


#: One quiet section at a time in the whole process: file descriptor 2 and the warnings filters are
#: process-wide, and two interleaved sections would restore each other's state in the wrong order
#: (fd 2 left pointing at a temporary file, or warnings recorded into a list nobody reads).
_QUIET_LOCK = threading.RLock()


@functools.cache
def _libc_fflush() -> Callable[[None], int] | None:
    try:
        return ctypes.CDLL(None).fflush  # the process's own C library (not reachable this way on Windows)
    except (OSError, TypeError, AttributeError):
        return None


def _c_fflush() -> None:
    """Flush C stdio buffers, so text a library has written but not yet flushed lands where fd 2 points now."""
    fflush = _libc_fflush()
    if fflush is not None:
        fflush(None)


@contextlib.contextmanager
def _fd2_into(noise: Noise) -> Iterator[None]:
    """Point file descriptor 2 at a temporary file for the body, then put it back and keep what was written."""
    try:
        saved = os.dup(2)
    except OSError:  # no stderr at all (a detached process): nothing to keep quiet
        yield
        return
    try:
        sink = tempfile.TemporaryFile()
    except OSError:
        os.close(saved)
        yield
        return
    with sink:
        with contextlib.suppress(Exception):
            sys.stderr.flush()
        _c_fflush()
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            with contextlib.suppress(Exception):
                sys.stderr.flush()
            _c_fflush()
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            noise.stderr = sink.read(MAX_NOISE_BYTES).decode("utf-8", "replace")


def _pass_on(noise: Noise) -> None:
    """--debug: show what was collected, as it would have been shown without cnnviz in between."""
    if noise.stderr:
        with contextlib.suppress(OSError):
            os.write(2, noise.stderr.encode("utf-8", "replace"))
    for w in noise.warnings:
        warnings.showwarning(w.message, w.category, w.filename, w.lineno, w.file, w.line)


@contextlib.contextmanager
def quiet(c_stderr: bool = False) -> Iterator[Noise]:
    """Collect the Python warnings raised in the body (and, with ``c_stderr``, what C code writes on
    file descriptor 2) into the :class:`Noise` it yields, instead of showing them.

    Keep the body short: one section runs at a time in the process. With ``CNNVIZ_DEBUG`` set the
    noise is passed on to stderr when the section ends (it is still in the Noise, for notes)."""
    noise = Noise()
    with _QUIET_LOCK:
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")  # recorded, not raised or deduplicated, whatever -W says
                noise.warnings = caught
                if c_stderr:
                    with _fd2_into(noise):
                        yield noise
                else:
                    yield noise
        finally:
            if debug_enabled():
                _pass_on(noise)
