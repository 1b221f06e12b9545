"""Session files (``.cnnviz``): what is on screen, saved as JSON and restored exactly.

A session names the model (zoo name or file path), the device choice, the input (as
PNG bytes in base64, so a drawing, a photo or a dataset sample all come back the same),
the kernel bank, the selected stage and the view options. A session file is data from
anywhere: every field is checked, unknown ones are ignored, and it is written atomically.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar, overload

import cv2
import numpy as np

from cnnviz.core.choices import INPUT_SOURCES
from cnnviz.core.data.imageio import decode_image
from cnnviz.core.errors import CnnvizError, SessionError
from cnnviz.core.fileio import atomic_write_text, read_small_text
from cnnviz.core.lab.kernels import Kernel, dump_bank, parse_bank

FORMAT = "cnnviz-session"
VERSION = 1
SUFFIX = ".cnnviz"
MAX_BYTES = 64 * 1024 * 1024
SOURCES = INPUT_SOURCES
VIEW_KEYS = {"per_channel": bool, "top_k": int, "magnitude_map": str, "explain_method": str, "tab": str,
             "padding": str, "stride": int, "pool": int, "pool_kind": str, "presenter": bool,
             "model_options": dict}  # (a user's network: checked by ModelOptions.from_json when applied)


@dataclass
class Session:
    model: str
    device: str = "auto"
    untrained: bool = False
    source: str = "draw"
    input: np.ndarray | None = None  # uint8 grey or RGB
    stage: str | None = None
    channel: int = 0
    kernels: list[Kernel] = field(default_factory=list)
    view: dict[str, object] = field(default_factory=dict)

    def to_json(self) -> str:
        data: dict[str, object] = {"format": FORMAT, "version": VERSION, "model": self.model, "device": self.device,
                                   "untrained": self.untrained, "source": self.source, "stage": self.stage,
                                   "channel": self.channel, "view": self.view}
        if self.input is not None:
            image = self.input if self.input.ndim == 2 else cv2.cvtColor(self.input, cv2.COLOR_RGB2BGR)
            ok, png = cv2.imencode(".png", image)
            if not ok:
                raise SessionError("The input image could not be encoded as PNG.")
            data["input_png"] = base64.b64encode(png.tobytes()).decode("ascii")
            data["input_grey"] = self.input.ndim == 2
        if self.kernels:
            data["kernels"] = json.loads(dump_bank(self.kernels))["kernels"]
        return json.dumps(data, indent=1, allow_nan=False)


def save_session(path: str | Path, session: Session) -> Path:
    """Write atomically (a failed save leaves any earlier file as it was); adds the .cnnviz suffix."""
    path = Path(path)
    if path.suffix != SUFFIX:
        path = path.with_name(path.name + SUFFIX)
    try:
        atomic_write_text(path, session.to_json())
    except OSError as exc:
        raise SessionError(f"The session could not be saved to {path} ({exc.strerror or exc}).") from None
    return path


_T = TypeVar("_T")


@overload
def _typed(data: dict, key: str, kind: type[_T], default: None) -> _T | None: ...


@overload
def _typed(data: dict, key: str, kind: type[_T], default: _T) -> _T: ...


def _typed(data: dict, key: str, kind: type[_T], default: _T | None) -> _T | None:
    """``data[key]`` if it is a ``kind`` (a bool is not an int here), ``default`` if absent; else a SessionError."""
    value = data.get(key, default)
    if value is None and default is None:
        return None
    if kind is int and isinstance(value, bool) or not isinstance(value, kind):
        raise SessionError(f"The session's '{key}' should be a {kind.__name__}, not {type(value).__name__}.")
    return value


def parse_session(text: str, name: str = "session") -> Session:
    try:
        data = json.loads(text, parse_constant=lambda token: None)
    except RecursionError:
        raise SessionError(f"{name} is nested too deeply to be a session file.") from None
    except ValueError as exc:
        raise SessionError(f"{name} is not a cnnviz session (not valid JSON: {exc}).") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise SessionError(f"{name} is not a cnnviz session file (no \"format\": \"{FORMAT}\").")
    version = data.get("version")
    if not isinstance(version, int) or version > VERSION:
        raise SessionError(f"{name} was written by a newer cnnviz (session version {version}); update cnnviz.")
    model = _typed(data, "model", str, "")
    if not model:
        raise SessionError(f"{name} names no model.")
    source = _typed(data, "source", str, "draw")
    if source not in SOURCES:
        raise SessionError(f"{name}: unknown input source {source!r} (one of {', '.join(SOURCES)}).")
    session = Session(model=model, device=_typed(data, "device", str, "auto"),
                      untrained=_typed(data, "untrained", bool, False), source=source,
                      stage=_typed(data, "stage", str, None), channel=_typed(data, "channel", int, 0))
    view = data.get("view", {})
    if not isinstance(view, dict):
        raise SessionError(f"{name}: 'view' should be an object.")
    session.view = {k: v for k, v in view.items() if k in VIEW_KEYS and isinstance(v, VIEW_KEYS[k])
                    and not (VIEW_KEYS[k] is int and isinstance(v, bool))}
    if "input_png" in data:
        encoded = _typed(data, "input_png", str, "")
        try:
            raw = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise SessionError(f"{name}: the saved input image is damaged (bad base64).") from None
        try:
            rgb = decode_image(raw, f"{name}'s input image").rgb
        except CnnvizError as exc:
            raise SessionError(str(exc)) from None
        session.input = rgb[..., 0].copy() if data.get("input_grey") is True else rgb
    if "kernels" in data:
        try:
            session.kernels = parse_bank(json.dumps({"kernels": data["kernels"]}), f"{name}'s kernels")
        except CnnvizError as exc:
            raise SessionError(str(exc)) from None
    return session


def load_session(path: str | Path) -> Session:
    path = Path(path)
    return parse_session(read_small_text(path, MAX_BYTES, "session file", SessionError), path.name)

