"""Regression: PySide6-Essentials 6.12.0 on CPython 3.11 aborts after a few thousand void calls.

pyproject excludes that release for Python < 3.12; this makes sure the installed one survives.
"""

from __future__ import annotations

import pytest

pytest.importorskip("PySide6")


def test_twenty_thousand_void_calls(qtbot):
    from PySide6.QtWidgets import QWidget

    widget = QWidget()
    qtbot.addWidget(widget)
    for _ in range(20_000):
        widget.update()
        widget.setUpdatesEnabled(True)
    assert widget.isEnabled()
