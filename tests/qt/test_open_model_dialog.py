"""The Open model form (issue #17): one form for what a user's file cannot say, pre-filled with what can be
read without running it and with the answers last given for that file; the app then asks, once, whether
the file's code may run, and opens the network with the form's options."""

from __future__ import annotations

import textwrap
import warnings

import pytest
import torch
from PySide6.QtWidgets import QMessageBox

from cnnviz.core.models.options import ModelOptions
from cnnviz.qt.panels.model_bar import ModelBar

NET = textwrap.dedent('''
    import pathlib
    import torch
    from torch import nn

    pathlib.Path(__file__).with_name("ran.txt").write_text("imported")  # shows whether the code ran

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3, padding=1)
            self.pool = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(4, 2)

        def forward(self, x):
            return self.fc(torch.flatten(self.pool(torch.relu(self.conv(x))), 1))

    def make_net():
        return Net()

    def _helper():
        return None
''')


@pytest.fixture
def net_file(tmp_path):
    path = tmp_path / "net.py"
    path.write_text(NET, encoding="utf-8")
    torch.manual_seed(0)
    conv, fc = torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.Linear(4, 2)
    torch.save({"conv.weight": conv.weight, "conv.bias": conv.bias, "fc.weight": fc.weight, "fc.bias": fc.bias},
               tmp_path / "w.pt")
    return path


@pytest.fixture
def bar(qtbot, settings, fake):
    controller = fake
    controller.settings = settings  # (the form remembers its answers per file in the settings)
    widget = ModelBar(controller)
    qtbot.addWidget(widget)
    return widget, controller


def test_the_form_offers_the_files_networks_without_running_it(bar, net_file):
    widget, _ = bar
    dialog = widget.ask_about(str(net_file))
    try:
        names = [dialog.network.itemText(i) for i in range(dialog.network.count())]
        assert names == ["Net", "make_net"]  # the public classes and functions, by parsing
        assert not (net_file.parent / "ran.txt").exists()  # nothing was imported
    finally:
        dialog.reject()


def test_the_answers_load_the_model_and_are_remembered_for_the_file(bar, net_file):
    widget, controller = bar
    dialog = widget.ask_about(str(net_file))
    dialog.network.setCurrentText("Net")
    dialog.weights_edit.setText(str(net_file.parent / "w.pt"))
    dialog.shape.setText("3, 40, 40")
    dialog.mean.setText("0.5")
    dialog.std.setText("0.25")
    dialog.accept()
    ref = f"{net_file.resolve()}:Net"
    (args,) = controller.called("load_model")
    assert args[0] == ref
    assert args[-1]["options"] == ModelOptions(weights=str(net_file.parent / "w.pt"), input_shape=(3, 40, 40),
                                               mean=(0.5,), std=(0.25,))
    again = widget.ask_about(str(net_file))  # the next time, the form starts from these answers
    try:
        assert again.network.currentText() == "Net" and again.shape.text() == "3,40,40"
        assert again.weights_edit.text() == str(net_file.parent / "w.pt") and again.mean.text() == "0.5"
    finally:
        again.reject()


@pytest.mark.parametrize("field,text,fragment", [("shape", "3,40", "3 numbers"), ("shape", "3,0,9", "1 to 4096"),
                                                 ("mean", "a,b", "numbers separated by commas")])
def test_a_wrong_field_is_said_and_the_form_stays(bar, net_file, field, text, fragment):
    widget, controller = bar
    dialog = widget.ask_about(str(net_file))
    try:
        getattr(dialog, field).setText(text)
        dialog.accept()
        assert fragment in dialog.problem.text() and dialog.isVisible()
        assert controller.called("load_model") == []
    finally:
        dialog.reject()


def test_the_app_opens_a_code_file_after_asking_once(make_app, qtbot, net_file, monkeypatch):
    asked = []

    def answer(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202 - QMessageBox.warning's arguments
        asked.append(args[2])
        return QMessageBox.StandardButton.Open

    monkeypatch.setattr(QMessageBox, "warning", answer)
    app = make_app()
    bar = app.window.findChild(ModelBar)
    dialog = bar.ask_about(str(net_file))
    dialog.network.setCurrentText("Net")
    dialog.weights_edit.setText(str(net_file.parent / "w.pt"))
    dialog.shape.setText("3,40,40")
    dialog.accept()
    controller = app.controller
    qtbot.waitUntil(lambda: controller.spec is not None and controller.spec.name == "Net", timeout=30_000)
    assert controller.spec.input_shape == (3, 40, 40) and "w.pt" in controller.spec.description
    assert len(asked) == 1 and "Python code" in asked[0]
    controller.load_model("lenet5-mnist")
    qtbot.waitUntil(lambda: controller.spec.name == "lenet5-mnist", timeout=30_000)
    controller.load_model(f"{net_file.resolve()}:Net", options=dialog.result_options)
    qtbot.waitUntil(lambda: controller.spec.name == "Net", timeout=30_000)
    assert len(asked) == 1  # trusted once for this file: not asked again in this run


@pytest.mark.parametrize("ref,fragment", [("{d}/net.py:Nope", "has no 'Nope'"),
                                          ("{d}/net.py:_helper", "returned a NoneType"),
                                          ("{d}/missing.py:Net", "does not exist")])
def test_a_bad_code_reference_is_a_message_and_the_previous_model_stays(make_app, qtbot, net_file, ref, fragment):
    app = make_app()
    controller = app.controller
    errors = []
    controller.error.connect(errors.append)
    controller.load_model(ref.replace("{d}", str(net_file.parent)), trust=True)
    qtbot.waitUntil(lambda: bool(errors), timeout=30_000)
    assert fragment in errors[-1], errors
    assert controller.spec.name == "lenet5-mnist" and controller.state.model == "lenet5-mnist"
    assert app.window.banner.isVisible() and fragment in app.window.banner.text()


def test_a_form_left_open_goes_with_the_window(make_app, net_file):
    app = make_app()
    dialog = app.window.findChild(ModelBar).ask_about(str(net_file))
    assert dialog.isVisible()
    app.window.close()
    assert not dialog.isVisible()  # (the fixture fails a test that leaves a top-level window open)


def test_an_onnx_files_stated_shape_is_the_fields_hint(bar, tmp_path):
    """An ONNX file is data: its input shape is read on the worker once the form is open, and shown as the
    empty field's hint (what loading will use unless the field says otherwise)."""
    pytest.importorskip("onnx")
    from cnnviz.core.models.zoo import build_architecture

    path = tmp_path / "lenet.onnx"
    with warnings.catch_warnings():  # (the exporter's own deprecation notes)
        warnings.simplefilter("ignore")
        torch.onnx.export(build_architecture("lenet5").eval(), (torch.zeros(1, 1, 28, 28),), str(path), dynamo=False)
    widget, controller = bar
    dialog = widget.ask_about(str(path))
    try:
        ((kind, read, done),) = controller.called("run_job")  # (on the worker, not the GUI thread)
        assert kind == "stated-shape" and dialog.shape.text() == ""
        done(read(None))
        assert dialog.shape.placeholderText().startswith("1,28,28 (") and dialog.shape.text() == ""
    finally:
        dialog.reject()
    done((3, 9, 9))  # a late answer for a form already closed changes nothing
    assert dialog.shape.placeholderText().startswith("1,28,28 (")
