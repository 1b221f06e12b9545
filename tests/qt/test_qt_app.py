"""The whole app driven headless through its real widgets (pytest-qt, offscreen): what only the composed app
shows (every view at once, the banner, the title, the tool bar), and the command line's --screenshot.
The panels, the window shell and the controller have tests of their own beside this one."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("PySide6")

from PySide6.QtCore import QSettings, Qt  # noqa: E402

WAIT = 60_000
SELECTED = "2166ac"  # the selected strip card's border colour


def model_bar(app):  # noqa: ANN001, ANN201
    from cnnviz.qt.panels.model_bar import ModelBar

    return app.window.findChild(ModelBar)


def test_choosing_stage_model_and_device_updates_every_view(app, qtbot):
    window, network, controller, bar = app.window, app.network, app.controller, model_bar(app)
    with qtbot.waitSignal(window.result_painted, timeout=WAIT):
        app.inputs.draw_demo(3)
    with qtbot.waitSignal(window.result_painted, timeout=WAIT,
                          check_params_cb=lambda r: r.selected == "pool2" and r.detail):  # (chain, filters: detail)
        qtbot.mouseClick(network.strip.cards["pool2"], Qt.MouseButton.LeftButton)
    assert network.maps_title.text().startswith("pool2 [pool] 16x5x5")
    assert network.strip.cards["pool2"].styleSheet().count(SELECTED) == 1
    assert [name for name, _ in controller.last_frame.chain] == ["conv2", "relu2", "pool2"]
    assert [caption.text() for _picture, caption in network.chain.cells] == ["conv2", "relu2", "pool2"]
    assert network.filters.title.text().startswith("Filters of conv2")

    index = bar.model_box.findData("mnist-cnn")
    bar.model_box.setCurrentIndex(index)
    with qtbot.waitSignal(window.result_painted, timeout=WAIT,
                          check_params_cb=lambda r: r.model_name.startswith("mnist-cnn")):
        bar.model_box.activated.emit(index)
    result = controller.last_frame
    assert "conv3" in network.strip.cards and len(network.strip.cards) == len(result.stages)
    assert network.maps_title.text().startswith("pool2 [pool] 64x7x7")  # the same stage name, the new model
    assert len(app.inputs.softmax.top) == 5

    bar.device_box.setCurrentText("cpu")
    with qtbot.waitSignal(controller.model_loaded, timeout=WAIT):
        bar.device_box.activated.emit(bar.device_box.currentIndex())
    qtbot.waitUntil(lambda: "on cpu" in window.status_label.text(), timeout=WAIT)
    assert next(controller.worker.model.parameters()).device.type == "cpu" and controller.device_in_use == "cpu"


def test_the_windows_paint_opens_the_paint_gate(make_app, qtbot, monkeypatch):
    """On the CPU the next forward pass waits for the window to paint the last result; here the gate's own
    timeout is made long, so only the window's paint can let the second drawing through."""
    from cnnviz.qt import cadence

    monkeypatch.setattr(cadence, "PAINT_WAIT_S", 600.0)
    app = make_app()
    controller = app.controller
    app.inputs.draw_demo(3)
    app.inputs.draw_demo(5)  # (waits at the gate while the 3 is on the worker or not yet painted)
    qtbot.waitUntil(lambda: controller.is_idle() and controller.last_frame.top[0][0] == "5", timeout=WAIT)
    assert app.inputs.softmax.top[0][0] == "5"


def test_corrupt_image_shows_a_message_and_keeps_the_previous_input(app, qtbot, tmp_path):
    window, controller = app.window, app.controller
    with qtbot.waitSignal(window.result_painted, timeout=WAIT, check_params_cb=lambda r: r.top[0][0] == "1"):
        app.inputs.draw_demo(1)
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n broken")
    controller.open_image(str(bad))
    qtbot.waitUntil(lambda: "bad.png" in window.banner.text(), timeout=WAIT)
    qtbot.waitUntil(controller.is_idle, timeout=WAIT)  # (everything the failure might have set off has run)
    assert window.banner.isVisibleTo(window)
    assert app.inputs.tabs.currentIndex() == 0 and controller.state.source == "draw"
    assert app.inputs.image_label.pixmap().isNull()  # no picture took the Image tab
    assert controller.last_frame.top[0][0] == "1"  # the drawing is still what the views show


def test_image_file_and_paste(app, qtbot, tmp_path, settings):
    from PySide6.QtGui import QGuiApplication, QImage

    from cnnviz.core.data.imageio import write_png

    window, controller = app.window, app.controller
    path = tmp_path / "photo.png"
    write_png(path, np.random.default_rng(0).integers(0, 255, (60, 90, 3), dtype=np.uint8))
    with qtbot.waitSignal(window.result_painted, timeout=WAIT,
                          check_params_cb=lambda r: any("grey" in n for n in r.notes)):
        controller.open_image(str(path))
    assert app.inputs.tabs.currentIndex() == 1 and "converted to grey" in window.status_label.text()
    assert settings.recent_files()[0] == str(path.resolve())
    assert not app.inputs.image_label.pixmap().isNull()
    image = QImage(40, 30, QImage.Format.Format_RGB888)
    image.fill(Qt.GlobalColor.white)
    QGuiApplication.clipboard().setImage(image)
    with qtbot.waitSignal(window.result_painted, timeout=WAIT,
                          check_params_cb=lambda r: r.steps[0][1].shape[:2] == (30, 40)):
        assert window.paste()
    assert controller.state.source == "image" and controller.current_input().shape == (30, 40, 3)


def test_sobel_into_lenet_first_filter_then_reset_is_bitwise(app, qtbot):
    import torch

    from cnnviz.core.lab.kernels import preset

    window, controller, lab = app.window, app.controller, app.lab
    with qtbot.waitSignal(window.result_painted, timeout=WAIT,
                          check_params_cb=lambda r: r.selected == "conv1" and r.top[0][0] == "7"):
        app.inputs.draw_demo(7)
    qtbot.waitUntil(controller.is_idle, timeout=WAIT)  # any earlier request has drained
    model = controller.worker.model
    original = {k: v.clone() for k, v in model.state_dict().items()}
    trained = controller.last_frame
    window.show_view("lab")
    lab.set_current(preset("sobel-x"))
    lab.stage_box.setCurrentText("conv1")
    lab.filter_box.setValue(0)
    with qtbot.waitSignal(window.result_painted, timeout=WAIT, check_params_cb=lambda r: bool(r.changes)):
        lab.apply_to_network()
    edited = controller.last_frame
    assert not np.array_equal(edited.hover.values[0], trained.hover.values[0])
    assert np.array_equal(edited.hover.values[1:], trained.hover.values[1:])
    assert "trained" in lab.diff.text() and "conv1" in lab.diff.text()
    assert "edited" in window.windowTitle() and controller.edited
    with qtbot.waitSignal(window.result_painted, timeout=WAIT, check_params_cb=lambda r: not r.changes):
        lab.edit_requested.emit(None)
    for key, value in model.state_dict().items():
        assert torch.equal(value, original[key]), key
    assert controller.last_frame.top == trained.top
    assert np.array_equal(controller.last_frame.hover.values, trained.hover.values)
    assert window.windowTitle() == "cnnviz" and "trained weights" in lab.diff.text()


def test_exception_in_the_worker_is_shown_and_the_app_goes_on(app, qtbot, monkeypatch):
    import cnnviz.qt.worker as worker_module

    real = worker_module.process_frame
    calls = {"n": 0}

    def flaky(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        calls["n"] += 1
        if calls["n"] == 1:
            raise ValueError("injected fault")
        return real(*args, **kwargs)

    monkeypatch.setattr(worker_module, "process_frame", flaky)
    app.inputs.draw_demo(5)
    qtbot.waitUntil(lambda: "injected fault" in app.window.banner.text(), timeout=WAIT)
    with qtbot.waitSignal(app.window.result_painted, timeout=WAIT):
        app.inputs.draw_demo(5)


def test_cuda_out_of_memory_falls_back_to_the_cpu(app, qtbot, monkeypatch):
    import torch

    import cnnviz.qt.worker as worker_module

    window, controller = app.window, app.controller
    real = worker_module.process_frame
    calls = {"n": 0}

    def oom_once(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        calls["n"] += 1
        if calls["n"] == 1:
            raise torch.OutOfMemoryError("CUDA out of memory (simulated)")
        return real(*args, **kwargs)

    monkeypatch.setattr(worker_module, "process_frame", oom_once)
    app.inputs.draw_demo(6)
    qtbot.waitUntil(lambda: "ran out of memory" in window.banner.text(), timeout=WAIT)
    qtbot.waitUntil(lambda: calls["n"] >= 2 and controller.last_frame.top[0][0] == "6", timeout=WAIT)
    assert window.banner.isVisibleTo(window)
    assert model_bar(app).device_box.currentText() == "cpu" and controller.state.device == "cpu"
    assert next(controller.worker.model.parameters()).device.type == "cpu"


def test_corrupt_settings_fall_back_to_defaults(tmp_path):
    from cnnviz.qt.settings import Settings

    path = tmp_path / "bad.ini"
    path.write_bytes(b"[General]\ntop_k=banana\nmodel=\nrecent_files=@Invalid(\x00\x01)\ngeometry=xyz\n")
    settings = Settings(QSettings(str(path), QSettings.Format.IniFormat))
    assert settings.top_k == 5 and settings.model == "lenet5-mnist" and settings.device == "auto"
    assert isinstance(settings.recent_files(), list) and settings.geometry() is None


def test_screenshot_command(tmp_path):
    out = tmp_path / "shot.png"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "XDG_CONFIG_HOME": str(tmp_path)}
    result = subprocess.run([sys.executable, "-m", "cnnviz", "--model", "lenet5", "--draw-demo", "--screenshot",
                             str(out)], capture_output=True, text=True, timeout=180, env=env)
    assert result.returncode == 0, result.stderr
    from cnnviz.core.data.imageio import read_image

    image = read_image(out).rgb
    assert image.shape[0] > 400 and image.std() > 10


def test_explain_and_compare_of_an_adversarial_input_use_the_exact_tensor(app, qtbot):
    """After the Attack view's "Use as input", the explanation and the comparison are of the exact tensor the
    attack made (its class), not of its picture prepared again (which, for this digit, undoes the attack)."""
    import cnnviz
    from cnnviz.core.data.datasets import load_samples
    from cnnviz.core.data.imageio import to_rgb_uint8
    from cnnviz.core.engine.inference import run_image
    from cnnviz.core.engine.preprocess import prepare
    from cnnviz.core.teach.adversarial import adversarial_picture, attack

    model = cnnviz.load_model("lenet5-mnist", "cpu")  # (the same weights as the app's, on this thread)
    names = model.cnnviz_spec.class_names
    for image in load_samples("mnist").images[:60]:
        result = attack(model, prepare(to_rgb_uint8(image), model.cnnviz_spec).tensor, "pgd", 0.3)
        picture = adversarial_picture(result)
        reached = names[int(np.argmax(result.after))]
        if result.flipped and run_image(model, picture, 1).top[0][0] != reached:
            break
    else:
        pytest.fail("no shipped digit whose attack the preparation undoes")
    app.controller.use_model_input(picture, result.adversarial)
    app.compare.pin_input()  # A: the adversarial input
    app.controller.set_view("explain")
    qtbot.waitUntil(lambda: app.explain.view.last is not None, timeout=WAIT)
    assert app.explain.view.last.target_name == reached
    app.controller.set_view("compare")
    qtbot.waitUntil(lambda: app.compare.view.last is not None, timeout=WAIT)
    assert app.compare.view.last.top_a[0][0] == reached and app.compare.view.last.top_b[0][0] == reached
