"""Test setup: Qt runs offscreen, torch stays on one thread, and no test touches the network."""

from __future__ import annotations

import os
import tempfile  # noqa: E402

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# QSettings writes under XDG_CONFIG_HOME: keep the tests away from the user's settings
os.environ["XDG_CONFIG_HOME"] = tempfile.mkdtemp(prefix="cnnviz-test-config-")
os.environ["XDG_DATA_HOME"] = tempfile.mkdtemp(prefix="cnnviz-test-data-")  # models trained in the app go here
os.environ["CNNVIZ_CACHE"] = tempfile.mkdtemp(prefix="cnnviz-test-cache-")  # exemplar scans (never ~/.cache)
os.environ["CNNVIZ_OFFLINE"] = "1"

import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(1)


@pytest.fixture
def torch_home(tmp_path, monkeypatch):
    """An empty torch cache, so tests never see (or write) the user's real one."""
    home = tmp_path / "torch"
    monkeypatch.setenv("TORCH_HOME", str(home))
    before = torch.hub.get_dir()
    torch.hub.set_dir(str(home / "hub"))
    yield home
    torch.hub.set_dir(before)  # (a later test must not find weights an earlier one installed here)


@pytest.fixture
def resnet18_pair():
    """ResNet-18 (random weights) as loaded, and a copy under the app's CPU policy (threads, channels-last,
    packed convolution weights); torch's thread count is put back afterwards."""
    import copy

    import cnnviz
    from cnnviz.core.models.device import apply_thread_policy

    threads = torch.get_num_threads()
    plain = cnnviz.load_model("resnet18", "cpu", pretrained=False)
    fast = copy.deepcopy(plain)
    fast.cnnviz_spec = plain.cnnviz_spec
    apply_thread_policy(fast, (3, 224, 224))
    yield plain, fast
    torch.set_num_threads(threads)
