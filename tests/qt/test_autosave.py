"""Autosave: a killed app's drawing, kernels, model, stage and view come back at the next start."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("PySide6")

WAIT = 60_000


def _wait_for_file(process: subprocess.Popen, path, seconds: float = 120.0) -> None:  # noqa: ANN001
    """Until ``path`` exists (the process's own exit or the deadline end the wait with a failure)."""
    import time

    deadline = time.monotonic() + seconds
    while not path.is_file():
        try:
            process.wait(timeout=0.2)  # (a condition wait: returns at once if the app died)
            raise AssertionError(f"the app exited ({process.returncode}) before it autosaved")
        except subprocess.TimeoutExpired:
            pass
        if time.monotonic() > deadline:
            raise AssertionError("no autosave appeared")


def test_a_killed_app_is_offered_back_at_the_next_start(tmp_path, monkeypatch, make_app, qtbot):
    data = tmp_path / "data"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "XDG_DATA_HOME": str(data),
           "XDG_CONFIG_HOME": str(tmp_path / "config"), "CNNVIZ_AUTOSAVE_S": "0.3"}
    autosave = data / "cnnviz" / "autosave.cnnviz"
    process = subprocess.Popen([sys.executable, "-m", "cnnviz", "--model", "lenet5-mnist", "--draw-demo",
                                "--stage", "relu2"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        _wait_for_file(process, autosave)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL and autosave.is_file()

    monkeypatch.setenv("XDG_DATA_HOME", str(data))
    app = make_app()
    assert app.autosave is not None and app.autosave.offer.isVisible()
    app.autosave.restore_button.click()
    qtbot.waitUntil(lambda: app.controller.state.stage == "relu2" and app.controller.last_frame is not None
                    and app.controller.last_frame.selected == "relu2", timeout=WAIT)
    drawn = app.inputs.canvas.to_array()
    assert (drawn < 128).sum() > 200  # the demo 7's ink is back on the canvas


def test_autosave_writes_when_something_changed_and_a_clean_exit_removes_it(tmp_path, monkeypatch, make_app,
                                                                              qtbot):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("CNNVIZ_AUTOSAVE_S", "0.2")
    app = make_app()
    autosave = app.autosave
    qtbot.waitUntil(lambda: autosave.saves >= 1 and autosave.path.is_file(), timeout=WAIT)
    saves = autosave.saves
    app.autosave.save_if_changed()  # nothing changed: nothing written
    assert autosave.saves == saves
    app.inputs.draw_demo(3)
    from cnnviz.core.teach.session import load_session

    def saved_the_drawing() -> bool:
        restored = load_session(autosave.path)
        return restored.model == "lenet5-mnist" and np.array_equal(restored.input, app.inputs.canvas.to_array())

    qtbot.waitUntil(lambda: autosave.saves > saves and saved_the_drawing(), timeout=WAIT)
    app.window.close()
    assert not autosave.path.exists()
