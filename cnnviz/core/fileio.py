"""Reading and writing the small files cnnviz keeps (kernels, sessions, model cards): bounded reads
with a sentence on failure, and atomic writes that never leave half a file behind."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def read_small_text(path: Path, max_bytes: int, what: str, error: type[Exception]) -> str:
    """A UTF-8 text file of at most ``max_bytes`` (checked before reading), or ``error`` with a sentence."""
    try:
        if path.stat().st_size > max_bytes:
            limit = f"{max_bytes // 1024**2} MB" if max_bytes >= 1024**2 else f"{max_bytes // 1024} KB"
            raise error(f"{path.name} is larger than any {what} ({limit} max).")
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise error(f"{what.capitalize()} {path} does not exist.") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise error(f"{path.name} cannot be read as a {what} ({exc}).") from None


def atomic_write_text(path: Path, text: str) -> None:
    """Write to a temporary file in the same folder, fsync, then rename over the target."""
    handle, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=str(path.parent))
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
