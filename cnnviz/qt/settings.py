"""Remembered settings (last model, device, layout, recent files), validated on read.

A corrupt or hand-edited settings file never stops the app: every value is checked and
falls back to its default.
"""

from __future__ import annotations

import hashlib
import json

from PySide6.QtCore import QByteArray, QSettings

MAX_RECENT = 8
MAGNITUDE_MAPS = ("viridis", "cividis")


class Settings:
    def __init__(self, settings: QSettings | None = None) -> None:
        self.q = settings or QSettings("cnnviz", "cnnviz")

    def _str(self, key: str, default: str) -> str:
        value = self.q.value(key, default)
        return value if isinstance(value, str) and value else default

    def _int(self, key: str, default: int, low: int, high: int) -> int:
        try:
            value = int(self.q.value(key, default))
        except (TypeError, ValueError):
            return default
        return value if low <= value <= high else default

    @property
    def model(self) -> str:
        return self._str("model", "lenet5-mnist")

    @model.setter
    def model(self, value: str) -> None:
        self.q.setValue("model", value)

    @property
    def device(self) -> str:
        return self._str("device", "auto")

    @device.setter
    def device(self, value: str) -> None:
        self.q.setValue("device", value)

    @property
    def untrained(self) -> bool:
        """Whether the remembered model was opened with random weights (its real ones being absent)."""
        return str(self.q.value("untrained", "false")).lower() == "true"

    @untrained.setter
    def untrained(self, value: bool) -> None:
        self.q.setValue("untrained", "true" if value else "false")

    @property
    def top_k(self) -> int:
        return self._int("top_k", 5, 1, 20)

    @top_k.setter
    def top_k(self, value: int) -> None:
        self.q.setValue("top_k", int(value))

    @property
    def magnitude_map(self) -> str:
        """The sequential colour map for magnitudes: viridis or cividis (both survive projectors and
        colour-blind viewers); sign always uses the blue-white-red diverging map."""
        value = self._str("magnitude_map", "viridis")
        return value if value in MAGNITUDE_MAPS else "viridis"

    @magnitude_map.setter
    def magnitude_map(self, value: str) -> None:
        self.q.setValue("magnitude_map", value if value in MAGNITUDE_MAPS else "viridis")

    @property
    def presenter_scale(self) -> int:
        """Font size in presenter mode, as a percentage of the normal one."""
        return self._int("presenter_scale", 170, 110, 300)

    @presenter_scale.setter
    def presenter_scale(self, value: int) -> None:
        self.q.setValue("presenter_scale", int(value))

    def geometry(self) -> QByteArray | None:
        value = self.q.value("geometry")
        return value if isinstance(value, QByteArray) and not value.isEmpty() else None

    def set_geometry(self, value: QByteArray) -> None:
        self.q.setValue("geometry", value)

    def recent_files(self) -> list[str]:
        value = self.q.value("recent_files", [])
        if isinstance(value, str):
            value = [value]
        return [v for v in value if isinstance(v, str)][:MAX_RECENT] if isinstance(value, list) else []

    def add_recent(self, path: str) -> list[str]:
        files = [path] + [p for p in self.recent_files() if p != path]
        self.q.setValue("recent_files", files[:MAX_RECENT])
        return files[:MAX_RECENT]

    def model_options(self, path: str) -> dict[str, object]:
        """What the Open dialog was last told about the model file ``path`` (JSON; {} when nothing)."""
        try:
            value = json.loads(str(self.q.value(_options_key(path), "{}")))
        except (TypeError, ValueError):
            return {}
        return value if isinstance(value, dict) else {}

    def set_model_options(self, path: str, options: dict[str, object]) -> None:
        self.q.setValue(_options_key(path), json.dumps(options))


def _options_key(path: str) -> str:
    """One key per file (QSettings keys cannot hold every character a path can)."""
    return "model_options/" + hashlib.sha1(path.encode("utf-8", "surrogatepass")).hexdigest()
