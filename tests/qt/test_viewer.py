"""``cnnviz.view``: the window on a network that lives in the caller's Python session (issue #17, route 7),
and the app opening a user's code + weights from the command line."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
from torch import nn

import cnnviz
from cnnviz.core.data.imageio import read_image, write_png


class Tiny(nn.Module):
    """None of the zoo's: BatchNorm, a functional ReLU, a residual add, adaptive pooling."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 6, 3, padding=1)
        self.bn = nn.BatchNorm2d(6)
        self.conv2 = nn.Conv2d(6, 6, 3, padding=1)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(6, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.bn(self.conv1(x)))
        x = x + torch.relu(self.conv2(x))
        return self.fc(torch.flatten(self.pool(x), 1))


@pytest.fixture
def net():
    torch.manual_seed(0)
    model = Tiny()
    model.train()  # as a training loop has it
    return model


def photo() -> np.ndarray:
    y, x = np.mgrid[0:48, 0:48]
    return np.stack([(x * 5) % 256, (y * 5) % 256, ((x + y) * 3) % 256], axis=-1).astype(np.uint8)


def filters_of(viewer) -> np.ndarray | None:
    frame = viewer.app.controller.last_frame
    return None if frame is None or frame.filters is None else np.asarray(frame.filters).copy()


def test_view_shows_the_network_and_screenshots_the_real_window(qtbot, tmp_path, settings, net):
    before = {k: v.clone() for k, v in net.state_dict().items()}
    viewer = cnnviz.view(net, photo(), input_shape=(3, 32, 32), class_names=["cat", "dog", "owl"], block=False,
                         settings=settings)
    try:
        path = viewer.screenshot(tmp_path / "view.png")
        controller = viewer.app.controller
        spec = controller.spec
        assert spec.name == "Tiny" and spec.input_shape == (3, 32, 32) and spec.class_names == ("cat", "dog", "owl")
        names = [s.name for s in controller.last_frame.stages]
        assert {"conv1", "bn", "conv2", "add", "pool", "fc"} <= set(names), names
        image = read_image(path).rgb
        assert image.shape[0] > 300 and image.std() > 10
        # the caller's module is as it was: training flag, weights
        assert net.training
        assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())
    finally:
        viewer.close()


def test_set_model_after_an_optimiser_step_changes_the_filters(qtbot, settings, net):
    viewer = cnnviz.view(net, photo(), input_shape=(3, 32, 32), block=False, settings=settings)
    try:
        viewer.app.controller.select_stage("conv1")
        qtbot.waitUntil(lambda: filters_of(viewer) is not None and viewer.app.controller.is_idle(), timeout=30_000)
        first = filters_of(viewer)
        optimiser = torch.optim.SGD(net.parameters(), lr=5.0)
        loss = net(torch.rand(4, 3, 32, 32)).sum()
        loss.backward()
        optimiser.step()
        viewer.set_model(net)
        qtbot.waitUntil(lambda: (f := filters_of(viewer)) is not None and f.shape == first.shape
                        and not np.array_equal(f, first), timeout=30_000)
        assert net.training  # set_model took a copy; the original trains on
    finally:
        viewer.close()


def test_view_refuses_what_is_not_a_network(qtbot, settings):
    with pytest.raises(cnnviz.core.errors.ModelError, match="takes a torch.nn.Module"):
        cnnviz.view("resnet18", block=False, settings=settings)


NET = textwrap.dedent('''
    import torch
    from torch import nn

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 8, 5, padding=2)
            self.bn = nn.BatchNorm2d(8)
            self.pool = nn.MaxPool2d(2)
            self.gap = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(8, 4)

        def forward(self, x):
            return self.fc(torch.flatten(self.gap(self.pool(torch.relu(self.bn(self.conv(x))))), 1))
''')


def test_the_app_opens_a_users_code_and_weights(tmp_path):
    (tmp_path / "net.py").write_text(NET, encoding="utf-8")
    sys.path.insert(0, str(tmp_path))
    try:
        import net as user_net  # (the test's own file, written above)

        torch.manual_seed(3)
        torch.save(user_net.Net().state_dict(), tmp_path / "w.pt")
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("net", None)
    write_png(tmp_path / "photo.png", photo())
    out = tmp_path / "out.png"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "XDG_CONFIG_HOME": str(tmp_path)}
    result = subprocess.run([sys.executable, "-m", "cnnviz", "--model", "net.py:Net", "--weights", "w.pt",
                             "--input-shape", "3,64,64", "--trust-file", "--image", "photo.png", "--screenshot",
                             str(out)], capture_output=True, text=True, timeout=180, env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    image = read_image(out).rgb
    assert image.shape[0] > 400 and image.std() > 10
