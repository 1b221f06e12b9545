"""The minimal window: a drawn digit flows through the worker to every view, headless."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("PySide6")


@pytest.fixture
def window(qtbot):
    from cnnviz.qt.main_window import MainWindow

    win = MainWindow("lenet5", "cpu")
    qtbot.addWidget(win)
    yield win
    win.shutdown()


def test_draw_demo_updates_views(window, qtbot):
    with qtbot.waitSignal(window.result_painted, timeout=30_000):
        window.draw_demo(7)
    result = window.last_result
    assert result.selected == "conv1" and result.mosaic.dtype == np.uint8
    assert window.stage_list.count() == len(result.stages)
    assert len(window.softmax.top) == 5


def test_selecting_a_stage_updates_the_maps(window, qtbot):
    with qtbot.waitSignal(window.result_painted, timeout=30_000):
        window.draw_demo(3)
    names = [s.name for s in window.last_result.stages]
    with qtbot.waitSignal(window.result_painted, timeout=30_000,
                          check_params_cb=lambda r: r.selected == "pool2"):
        window.stage_list.setCurrentRow(names.index("pool2"))
    assert window.maps_title.text().startswith("pool2: 16x5x5")


def test_corrupt_image_keeps_the_previous_input(window, qtbot, tmp_path):
    with qtbot.waitSignal(window.result_painted, timeout=30_000):
        window.draw_demo(1)
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n broken")
    assert not window.open_image(str(bad))
    assert window.banner.isVisibleTo(window) and "bad.png" in window.banner.text()
    assert window.tabs.currentIndex() == 0


def test_screenshot_command(tmp_path):
    out = tmp_path / "shot.png"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    result = subprocess.run([sys.executable, "-m", "cnnviz", "--model", "lenet5", "--draw-demo", "--screenshot",
                             str(out)], capture_output=True, text=True, timeout=180, env=env)
    assert result.returncode == 0, result.stderr
    from cnnviz.core.imageio import read_image

    image = read_image(out).rgb
    assert image.shape[0] > 400 and image.std() > 10
