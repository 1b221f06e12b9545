"""A model whose weights are not here opens with the choice in the window; the default model stays
usable meanwhile, and each choice loads the model."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytest.importorskip("PySide6")

WAIT = 60_000


def test_missing_weights_offer_the_choices_and_keep_a_model_usable(make_app, torch_home, qtbot):
    app = make_app("resnet18")  # (offline in the tests, and the torch cache is empty)
    from cnnviz.qt.panels.weights_choice import WeightsChoice

    bar = app.window.findChild(WeightsChoice)
    qtbot.waitUntil(bar.isVisible, timeout=WAIT)
    assert "resnet18" in bar.text.text() and "lenet5-mnist stays open" in bar.text.text()
    assert not app.window.banner.isVisible()  # a choice, not an error
    assert app.controller.spec.name == "lenet5-mnist" and app.controller.last_frame is not None
    assert not bar.download.isVisible()  # CNNVIZ_OFFLINE: no download to offer
    bar.random.click()
    qtbot.waitUntil(lambda: app.controller.spec.name == "resnet18", timeout=WAIT)
    assert not app.controller.spec.trained and not bar.isVisible()


def test_a_weights_file_goes_where_the_cache_keeps_it_and_loads(make_app, torch_home, tmp_path, qtbot):
    import torch

    import cnnviz
    from cnnviz.core.models.torchvision_weights import torchvision_cache_path
    from cnnviz.core.models.zoo import get_spec
    from cnnviz.qt.panels.weights_choice import WeightsChoice

    weights = tmp_path / "resnet18-downloaded.pth"
    reference = cnnviz.load_model("resnet18", "cpu", pretrained=False)
    torch.save(reference.state_dict(), weights)
    app = make_app("resnet18")
    bar = app.window.findChild(WeightsChoice)
    qtbot.waitUntil(bar.isVisible, timeout=WAIT)
    bar.use_file(str(weights))
    qtbot.waitUntil(lambda: app.controller.spec.name == "resnet18" and app.controller.spec.trained, timeout=WAIT)
    spec = get_spec("resnet18")
    assert torchvision_cache_path(spec.arch, spec.weights).is_file()
    assert not bar.isVisible()


def test_screenshot_of_a_model_without_weights_shows_the_choice(tmp_path):
    out = tmp_path / "choice.png"
    env = {"QT_QPA_PLATFORM": "offscreen", "TORCH_HOME": str(tmp_path / "torch"), "CNNVIZ_OFFLINE": "1",
           "XDG_DATA_HOME": str(tmp_path / "data"),
           "XDG_CONFIG_HOME": str(tmp_path / "config"), "PATH": "/usr/bin:/bin"}
    result = subprocess.run([sys.executable, "-m", "cnnviz", "--model", "resnet18", "--screenshot", str(out)],
                            capture_output=True, text=True, timeout=180, env=env)
    assert result.returncode == 0, result.stderr
    assert out.stat().st_size > 10_000
