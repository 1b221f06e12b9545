"""The tool bar in both directions: the state -> the widgets (without echoing it back as an intent), and
the user's choices -> load_model / set_device / set_options at the controller (a fake one)."""

from __future__ import annotations

import pytest

pytest.importorskip("PySide6")

from PySide6.QtCore import Qt  # noqa: E402


@pytest.fixture
def bar(qtbot, fake):
    from cnnviz.qt.panels.model_bar import ModelBar

    widget = ModelBar(fake)
    qtbot.addWidget(widget)
    widget.resize(1400, 40)  # (all its widgets on the bar, none in the overflow menu)
    widget.show()
    qtbot.waitExposed(widget)
    return widget


def test_the_bar_shows_the_state(bar, fake):
    assert bar.model_box.currentData() == "lenet5-mnist" and bar.model_box.currentText() == "lenet5-mnist (trained)"
    assert bar.device_box.currentText() == "cpu" and bar.top_k.value() == 5 and bar.per_channel.isChecked()
    assert bar.device_box.itemText(0) == "auto"
    fake.change(model="mnist-cnn", top_k=3, per_channel=False)  # a session, a fallback...
    assert bar.model_box.currentData() == "mnist-cnn" and bar.top_k.value() == 3 and not bar.per_channel.isChecked()
    fake.change(model="/lessons/my-net.safetensors")  # a model file joins the list under its name
    assert bar.model_box.currentText() == "my-net.safetensors (file)"
    assert bar.model_box.currentData() == "/lessons/my-net.safetensors"
    assert fake.calls == []  # showing the state asks for nothing


def test_choices_reach_the_controller(bar, fake, qtbot):
    index = bar.model_box.findData("mnist-cnn")
    bar.model_box.setCurrentIndex(index)
    bar.model_box.activated.emit(index)  # (what a choice in the open list sends)
    bar.device_box.setCurrentText("cpu")
    bar.device_box.activated.emit(bar.device_box.currentIndex())
    bar.top_k.setFocus()
    qtbot.keyClick(bar.top_k, Qt.Key.Key_Up)
    qtbot.mouseClick(bar.per_channel, Qt.MouseButton.LeftButton)
    assert fake.called("load_model") == [("mnist-cnn",)]
    assert fake.called("set_device") == [("cpu",)]
    assert fake.called("set_options") == [({"top_k": 6},), ({"per_channel": False},)]


def test_opening_a_model_file_loads_it(bar, fake, monkeypatch, settings):
    from cnnviz.core.models.options import ModelOptions
    from cnnviz.qt.panels import model_bar

    fake.settings = settings  # (the Open form remembers its answers per file)
    monkeypatch.setattr(model_bar.QFileDialog, "getOpenFileName", lambda *a, **k: ("/tmp/net.pt", ""))
    bar.open_model_dialog()
    bar.dialog.accept()  # the form, as it came: nothing to add for this file
    monkeypatch.setattr(model_bar.QFileDialog, "getOpenFileName", lambda *a, **k: ("", ""))
    bar.open_model_dialog()  # cancelled: nothing
    assert fake.called("load_model") == [("/tmp/net.pt", {"options": ModelOptions()})]


def test_the_chooser_lists_timm_models_when_timm_is_installed(qtbot, fake):
    import importlib.util

    from cnnviz.core.models.timm_models import TIMM_MODELS
    from cnnviz.qt.panels.model_bar import ModelBar

    bar = ModelBar(fake)
    qtbot.addWidget(bar)
    names = [bar.model_box.itemData(i) for i in range(bar.model_box.count())]
    assert "lenet5-mnist" in names
    assert (set(TIMM_MODELS) <= set(names)) == (importlib.util.find_spec("timm") is not None)
    index = names.index(TIMM_MODELS[0]) if TIMM_MODELS[0] in names else None
    if index is not None:
        bar.model_box.setCurrentIndex(index)
        bar.model_box.activated.emit(index)
        assert fake.called("load_model")[-1][0] == TIMM_MODELS[0]
