"""The app driven headless through its real widgets (pytest-qt, offscreen)."""

from __future__ import annotations

import os
import subprocess
import sys

import cv2
import numpy as np
import pytest

pytest.importorskip("PySide6")

from PySide6.QtCore import QPoint, QPointF, QSettings, Qt  # noqa: E402

from cnnviz.core.strokes import TEMPLATES, place  # noqa: E402

WAIT = 60_000


def drag(qtbot, widget, points) -> None:
    """A real mouse stroke: press, moves, release."""
    start = QPoint(*map(round, points[0]))
    qtbot.mousePress(widget, Qt.MouseButton.LeftButton, pos=start)
    for x, y in points[1:]:
        qtbot.mouseMove(widget, QPoint(round(x), round(y)))
    qtbot.mouseRelease(widget, Qt.MouseButton.LeftButton, pos=QPoint(*map(round, points[-1])))


def test_drawing_a_seven_with_the_mouse_puts_7_on_top(window, qtbot):
    strokes = place(TEMPLATES[7], 280, (60, 45, 160, 190))
    dense = []
    for (x0, y0), (x1, y1) in zip(strokes[0], strokes[0][1:], strict=False):
        dense += [(x0 + (x1 - x0) * t / 10, y0 + (y1 - y0) * t / 10) for t in range(10)]
    with qtbot.waitSignal(window.result_painted, timeout=WAIT,
                          check_params_cb=lambda r: r.top and r.top[0][0] == "7"):
        drag(qtbot, window.canvas, dense)
    assert window.softmax.top[0][0] == "7"
    assert window.canvas.to_array().min() < 50  # ink really landed on the canvas


def test_updates_arrive_while_drawing_not_only_on_release(window, qtbot):
    results = []
    window.result_painted.connect(results.append)
    qtbot.mousePress(window.canvas, Qt.MouseButton.LeftButton, pos=QPoint(60, 60))
    for i in range(1, 30):
        qtbot.mouseMove(window.canvas, QPoint(60 + 5 * i, 60 + 5 * i))
        qtbot.wait(5)
    qtbot.waitUntil(lambda: len(results) >= 2, timeout=WAIT)
    assert window.canvas._last is not None  # the button is still down
    qtbot.mouseRelease(window.canvas, Qt.MouseButton.LeftButton, pos=QPoint(200, 200))


def test_choosing_stage_model_and_device_updates_every_view(window, qtbot):
    with qtbot.waitSignal(window.result_painted, timeout=WAIT):
        window.draw_demo(3)
    with qtbot.waitSignal(window.result_painted, timeout=WAIT,
                          check_params_cb=lambda r: r.selected == "pool2" and r.detail):  # (chain, filters: detail)
        window.strip.cards["pool2"].clicked.emit("pool2")
    assert window.maps_title.text().startswith("pool2 [pool] 16x5x5")
    assert window.strip.cards["pool2"].styleSheet().count("2166ac") == 1
    assert [name for name, _ in window.last_result.chain] == ["conv2", "relu2", "pool2"]
    assert window.filters.title.text().startswith("Filters of conv2")

    index = window.model_box.findData("mnist-cnn")
    window.model_box.setCurrentIndex(index)
    with qtbot.waitSignal(window.result_painted, timeout=WAIT,
                          check_params_cb=lambda r: r.model_name.startswith("mnist-cnn")):
        window.model_box.activated.emit(index)
    result = window.last_result
    assert "conv3" in window.strip.cards and len(window.strip.cards) == len(result.stages)
    assert window.maps_title.text().startswith("pool2 [pool] 64x7x7")  # the same stage name, the new model
    assert len(window.softmax.top) == 5

    window.device_box.setCurrentText("cpu")
    with qtbot.waitSignal(window._thread.worker.model_loaded, timeout=WAIT):
        window.device_box.activated.emit(window.device_box.currentIndex())
    qtbot.waitUntil(lambda: "on cpu" in window.status_label.text(), timeout=WAIT)
    assert next(window._thread.worker.model.parameters()).device.type == "cpu"


def test_the_strip_highlight_moves_with_the_maps_before_the_thumbnails_come(window, qtbot, monkeypatch):
    import time

    import cnnviz.core.frame as frame

    with qtbot.waitSignal(window.result_painted, timeout=WAIT, check_params_cb=lambda r: r.detail):
        window.draw_demo(3)
    real = frame._chain_images
    monkeypatch.setattr(frame, "_chain_images", lambda *a, **k: (time.sleep(0.3), real(*a, **k))[1])
    with qtbot.waitSignal(window.result_painted, timeout=WAIT,
                          check_params_cb=lambda r: r.selected == "pool2" and not r.detail):
        window.select_stage("pool2")
    assert window.maps_title.text().startswith("pool2")
    assert window.strip.cards["pool2"].styleSheet().count("2166ac") == 1  # highlighted with the early maps
    assert window.strip.cards["conv1"].styleSheet().count("2166ac") == 0
    qtbot.waitUntil(lambda: window.last_result.detail, timeout=WAIT)  # then the secondary views follow
    assert [name for name, _ in window.last_result.chain] == ["conv2", "relu2", "pool2"]


def test_hovering_a_feature_map_pixel_outlines_its_receptive_field(window, qtbot):
    with qtbot.waitSignal(window.result_painted, timeout=WAIT, check_params_cb=lambda r: r.selected == "pool1"):
        window.draw_demo(7)
        window.select_stage("pool1")
    qtbot.wait(150)  # let the view apply its new range before mapping a position into it
    layout = window.last_result.layout
    channel, y, x = 4, 3, 4
    x0, y0 = layout.tile_origin(channel)
    centre = QPointF(x0 + (x + 0.5) * layout.scale, y0 + (y + 0.5) * layout.scale)
    view_point = window.maps.mapFromScene(window.maps.item.mapToScene(centre))
    with qtbot.waitSignal(window.maps.hovered, timeout=5000) as blocker:
        qtbot.mouseMove(window.maps.viewport(), view_point)
    assert blocker.args == [channel, y, x]
    # pool1 (2x2, stride 2) after conv1 (5x5, padding 2): output (3, 4) sees input rows 4..9, cols 6..11
    assert window.input_view.rect == (4, 6, 9, 11)
    assert "pool1" in window.arithmetic.text()


def test_hovering_a_conv_pixel_shows_the_arithmetic(window, qtbot):
    with qtbot.waitSignal(window.result_painted, timeout=WAIT, check_params_cb=lambda r: r.selected == "conv2"):
        window.draw_demo(4)
        window.select_stage("conv2")
    window._hovered(5, 2, 3)
    arithmetic = window.arithmetic.last
    assert arithmetic is not None and arithmetic.patches.shape == (6, 5, 5)
    assert arithmetic.value == pytest.approx(float(window.last_result.values[5, 2, 3]), abs=1e-4)
    # conv2 (2, 3) reads pool1 rows 2..6, cols 3..7 -> conv1 rows 4..13, cols 6..15 -> input (5x5, pad 2)
    assert window.input_view.rect == (2, 4, 15, 17)


def test_clicking_a_tile_enlarges_it_and_follows_the_channel(window, qtbot):
    with qtbot.waitSignal(window.result_painted, timeout=WAIT):
        window.draw_demo(2)
    # (the maps and bars come first, early; the chain follows in the same input's detail result)
    with qtbot.waitSignal(window.result_painted, timeout=WAIT, check_params_cb=lambda r: r.channel == 3 and r.detail):
        window.maps.enlarged = 3
        window.maps.tile_clicked.emit(3)
    assert window.maps.item.image.shape[:2] == (28, 28)
    assert window.chain.title.text() == "Channel 3 through its block"


def test_corrupt_image_shows_a_message_and_keeps_the_previous_input(window, qtbot, tmp_path):
    with qtbot.waitSignal(window.result_painted, timeout=WAIT, check_params_cb=lambda r: r.top[0][0] == "1"):
        window.draw_demo(1)
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n broken")
    window.open_image(str(bad))
    qtbot.waitUntil(lambda: "bad.png" in window.banner.text(), timeout=WAIT)
    qtbot.wait(200)
    assert window.banner.isVisibleTo(window)
    assert window.tabs.currentIndex() == 0 and "image" not in window._inputs
    assert window.last_result.top[0][0] == "1"  # the drawing is still what the views show


def test_image_file_and_paste(window, qtbot, tmp_path):
    from PySide6.QtGui import QGuiApplication, QImage

    from cnnviz.core.imageio import write_png

    path = tmp_path / "photo.png"
    write_png(path, np.random.default_rng(0).integers(0, 255, (60, 90, 3), dtype=np.uint8))
    with qtbot.waitSignal(window.result_painted, timeout=WAIT,
                          check_params_cb=lambda r: any("grey" in n for n in r.notes)):
        window.open_image(str(path))
    assert window.tabs.currentIndex() == 1 and "converted to grey" in window.status_label.text()
    assert window.settings.recent_files()[0] == str(path.resolve())
    image = QImage(40, 30, QImage.Format.Format_RGB888)
    image.fill(Qt.GlobalColor.white)
    QGuiApplication.clipboard().setImage(image)
    with qtbot.waitSignal(window.result_painted, timeout=WAIT,
                          check_params_cb=lambda r: r.steps[0][1].shape[:2] == (30, 40)):
        assert window.paste()
    assert window._inputs["image"].shape == (30, 40, 3)


def test_dataset_tab_browses_and_filters_misclassified(window, qtbot):
    with qtbot.waitSignal(window.result_painted, timeout=WAIT):
        window.tabs.setCurrentIndex(2)
    panel = window.dataset_panel
    first = panel.current()[1]
    with qtbot.waitSignal(window.result_painted, timeout=WAIT):
        panel.next()
    assert "true label" in panel.truth.text() and "predicted" in panel.truth.text()
    assert panel.current()[1] != first or len(panel.order) == 1
    panel.misclassified.setChecked(True)
    qtbot.waitUntil(lambda: panel.predicted is not None, timeout=WAIT)
    wrong = panel.predicted != panel.data.labels
    assert len(panel.order) == int(wrong.sum())
    assert "misclassified by lenet5-mnist" in panel.scan_note.text()  # stays, unlike the status bar


def test_camera_without_a_camera_says_so(window, qtbot):
    window.tabs.setCurrentIndex(3)
    window.camera_panel.start(7)
    qtbot.waitUntil(lambda: "No picture" in window.camera_panel.status.text(), timeout=WAIT)
    assert window.camera_panel.thread is None


def test_camera_frames_flow_through_the_network(window, qtbot, tmp_path):
    path = str(tmp_path / "clip.avi")
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"MJPG"), 20, (64, 48))
    if not writer.isOpened():
        pytest.skip("this OpenCV build cannot write MJPG")
    for i in range(20):
        writer.write(np.full((48, 64, 3), i * 10, np.uint8))
    writer.release()
    window.tabs.setCurrentIndex(3)
    results = []
    window.result_painted.connect(lambda r: results.append(r) if r.steps[0][1].shape[:2] == (48, 64) else None)
    window.camera_panel.start(path)
    # three inputs (a catch-up refresh repaints an input under its own stamp: it is not a new frame)
    qtbot.waitUntil(lambda: len({r.stamp for r in results}) >= 3, timeout=WAIT)
    window.camera_panel.stop()
    assert window.camera_panel.frames >= 3


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
    from cnnviz.core.imageio import read_image

    image = read_image(out).rgb
    assert image.shape[0] > 400 and image.std() > 10


def test_kernel_lab_cell_edit_changes_the_pipeline(window, qtbot):
    with qtbot.waitSignal(window.result_painted, timeout=WAIT):
        window.draw_demo(7)
    lab = window.lab
    with qtbot.waitSignal(window.lab_painted, timeout=WAIT):
        window.views.setCurrentWidget(lab)
    before = lab.last_result.conv[0].copy()
    with qtbot.waitSignal(window.lab_painted, timeout=WAIT):
        assert lab.grid.set_cell_text(0, 0, "5")
    assert lab.bank[0].weights[0, 0] == 5
    assert not np.array_equal(before, lab.last_result.conv[0])
    # a click on a cell raises it by one step, a refused entry keeps the kernel
    rect = lab.grid.cell_rect(1, 1)
    with qtbot.waitSignal(window.lab_painted, timeout=WAIT):
        qtbot.mouseClick(lab.grid, Qt.MouseButton.LeftButton, pos=rect.center())
    assert lab.bank[0].weights[1, 1] == -1 + 1  # edge4-v starts with -1 there
    kept = lab.bank[0].weights.copy()
    assert not lab.grid.set_cell_text(2, 2, "NaN")
    assert "NaN" in lab.message.text() and np.array_equal(lab.bank[0].weights, kept)
    assert lab.grid.error is not None and lab.grid.error[:2] == (2, 2)


def test_sobel_into_lenet_first_filter_then_reset_is_bitwise(window, qtbot):
    import torch

    from cnnviz.core.kernels import preset

    with qtbot.waitSignal(window.result_painted, timeout=WAIT,
                          check_params_cb=lambda r: r.selected == "conv1" and r.top[0][0] == "7"):
        window.draw_demo(7)
    qtbot.wait(200)  # let any earlier request drain
    model = window._thread.worker.model
    original = {k: v.clone() for k, v in model.state_dict().items()}
    trained = window.last_result
    lab = window.lab
    window.views.setCurrentWidget(lab)
    lab.set_current(preset("sobel-x"))
    lab.stage_box.setCurrentText("conv1")
    lab.filter_box.setValue(0)
    with qtbot.waitSignal(window.result_painted, timeout=WAIT, check_params_cb=lambda r: bool(r.changes)):
        lab.apply_to_network()
    edited = window.last_result
    assert not np.array_equal(edited.values[0], trained.values[0])
    assert np.array_equal(edited.values[1:], trained.values[1:])
    assert "trained" in lab.diff.text() and "conv1" in lab.diff.text()
    assert "edited" in window.windowTitle()
    with qtbot.waitSignal(window.result_painted, timeout=WAIT, check_params_cb=lambda r: not r.changes):
        lab.edit_requested.emit(None)
    for key, value in model.state_dict().items():
        assert torch.equal(value, original[key]), key
    assert window.last_result.top == trained.top
    assert np.array_equal(window.last_result.values, trained.values)


def test_exception_in_the_worker_is_shown_and_the_app_goes_on(window, qtbot, monkeypatch):
    import cnnviz.qt.worker as worker_module

    real = worker_module.process_frame
    calls = {"n": 0}

    def flaky(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 1:
            raise ValueError("injected fault")
        return real(*args, **kwargs)

    monkeypatch.setattr(worker_module, "process_frame", flaky)
    window.draw_demo(5)
    qtbot.waitUntil(lambda: "injected fault" in window.banner.text(), timeout=WAIT)
    with qtbot.waitSignal(window.result_painted, timeout=WAIT):
        window.draw_demo(5)


def test_cuda_out_of_memory_falls_back_to_the_cpu(window, qtbot, monkeypatch):
    import torch

    import cnnviz.qt.worker as worker_module

    real = worker_module.process_frame
    calls = {"n": 0}

    def oom_once(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 1:
            raise torch.OutOfMemoryError("CUDA out of memory (simulated)")
        return real(*args, **kwargs)

    monkeypatch.setattr(worker_module, "process_frame", oom_once)
    window.draw_demo(6)
    qtbot.waitUntil(lambda: "ran out of memory" in window.banner.text(), timeout=WAIT)
    qtbot.waitUntil(lambda: calls["n"] >= 2 and window.last_result is not None
                    and window.last_result.top[0][0] == "6", timeout=WAIT)
    assert window.banner.isVisibleTo(window)
    assert window.device_box.currentText() == "cpu"
    assert next(window._thread.worker.model.parameters()).device.type == "cpu"


def test_exception_in_a_slot_reaches_the_handler(window, monkeypatch):
    from cnnviz.qt.app import install_error_hook

    monkeypatch.setattr(sys, "excepthook", sys.excepthook)
    install_error_hook(lambda: window)
    sys.excepthook(RuntimeError, RuntimeError("slot blew up"), None)
    assert "slot blew up" in window.banner.text()


def test_about_box_names_versions_and_device(window, qtbot):
    with qtbot.waitSignal(window.result_painted, timeout=WAIT):
        window.draw_demo(1)
    text = window.about_text()
    assert "cnnviz 0." in text and "torch" in text and "PySide6" in text and "device in use: cpu" in text


def test_only_strip_cards_on_screen_get_thumbnails_and_scrolling_fills_the_others(window, qtbot):
    """The issue's hint: only stages on screen need pixels. A narrow strip shows part of the network."""
    window.strip.setFixedWidth(320)
    with qtbot.waitSignal(window.result_painted, timeout=WAIT, check_params_cb=lambda r: r.detail):
        window.draw_demo(4)
    qtbot.waitUntil(lambda: window.strip.visible_names() is not None, timeout=WAIT)
    visible = window.strip.visible_names()
    names = window.strip.names
    assert 0 < len(visible) < len(names) and names[0] in visible and names[-1] not in visible
    import time

    asked = time.perf_counter()  # (a catch-up refresh of the earlier input may still be on its way)
    with qtbot.waitSignal(window.result_painted, timeout=WAIT,
                          check_params_cb=lambda r: r.detail and r.stamp >= asked):
        window._submit(detail=True)
    assert set(window.last_result.thumbnails) == set(visible)

    bar = window.strip.horizontalScrollBar()
    with qtbot.waitSignal(window.result_painted, timeout=WAIT,
                          check_params_cb=lambda r: names[-1] in r.thumbnails):
        bar.setValue(bar.maximum())
    assert not window.strip.cards[names[-1]].thumb.pixmap().isNull()


def test_secondary_views_catch_up_with_the_last_input(window, qtbot):
    """Strip thumbnails, filters and preprocessing steps refresh at most every 0.1 s while input flows;
    once it stops, they still end on the last input (and a new picture shows in every view at once)."""
    import time

    with qtbot.waitSignal(window.result_painted, timeout=WAIT, check_params_cb=lambda r: r.detail):
        window.draw_demo(7)
    before = time.perf_counter()
    with qtbot.waitSignal(window.result_painted, timeout=WAIT, check_params_cb=lambda r: r.stamp >= before):
        window._submit(detail=False)  # an input right after a full update: only the maps are redrawn
    last = window.last_result.stamp
    with qtbot.waitSignal(window.result_painted, timeout=WAIT,
                          check_params_cb=lambda r: r.detail and r.stamp == last):
        pass  # the same input, every view (it keeps the input's stamp: latency counts from the input)


def test_a_busy_worker_hands_the_detail_refresh_to_the_newer_input(monkeypatch):
    """On a slow model the frame's forward pass outlasts the gap between inputs: its secondary views
    move to the input already waiting, unless they are overdue (DETAIL_OVERDUE_S)."""
    from types import SimpleNamespace

    from cnnviz.core.frame import FrameRequest
    from cnnviz.qt import worker as worker_module

    clock = [100.0]
    monkeypatch.setattr(worker_module, "time", SimpleNamespace(perf_counter=lambda: clock[0]))
    worker = worker_module.InferenceWorker()
    rgb = np.zeros((28, 28, 3), np.uint8)
    shown = frozenset({"conv1"})
    current = FrameRequest(rgb, detail=True, visible=shown)
    assert worker._details_now(current)  # nothing waits: the details now
    worker._pending_frame = FrameRequest(rgb, detail=False)
    clock[0] += 0.2
    assert not worker._details_now(current)  # newer input waits: it takes the details
    assert worker._pending_frame.detail and worker._pending_frame.visible == shown
    clock[0] += worker_module.DETAIL_OVERDUE_S
    assert worker._details_now(current)  # overdue: now, even with input waiting


def test_the_status_line_is_rewritten_a_few_times_a_second_not_per_update(window, qtbot, monkeypatch):
    """A new status text re-lays the window out; at 180 updates/s that was a tenth of the GUI thread."""
    from types import SimpleNamespace

    from cnnviz.qt import main_window as main_window_module

    with qtbot.waitSignal(window.result_painted, timeout=WAIT):
        window.draw_demo(3)
    clock = [window._status_at + 1.0]
    monkeypatch.setattr(main_window_module, "time", SimpleNamespace(perf_counter=lambda: clock[0]))
    written = []
    set_text = window.status_label.setText
    monkeypatch.setattr(window.status_label, "setText", lambda text: written.append(text) or set_text(text))
    for _ in range(20):  # 20 results in 0.2 s
        window._show_result(window.last_result)
        clock[0] += 0.01
    assert len(written) == 1 and "forward" in written[0]
    window.status_label.setText("session saved")  # another message: the next result names the model again
    window._show_result(window.last_result)
    assert len(written) == 3 and window.status_label.text().startswith(window.last_result.model_name)


def test_the_worker_waits_for_the_window_to_paint_a_cpu_result(window, qtbot, monkeypatch):
    """On the CPU the next forward pass starts once the window has painted (or PAINT_WAIT_S has passed):
    the paint and the forward would share two cores and the GIL."""
    import torch

    from cnnviz.qt import worker as worker_module

    worker = window._thread.worker
    with qtbot.waitSignal(window.result_painted, timeout=WAIT):
        window.draw_demo(3)
    qtbot.waitUntil(worker._painted.is_set, timeout=WAIT)  # the window's paint told the worker
    assert not window._awaiting_paint

    bare = worker_module.InferenceWorker()
    bare.model = torch.nn.Linear(2, 2)
    monkeypatch.setattr(worker_module, "PAINT_WAIT_S", 0.01)
    assert not bare._gate_on_paint()  # nothing painted: it gives up after PAINT_WAIT_S
    bare.painted()
    assert bare._gate_on_paint()
    bare._painted.clear()
    bare.model = torch.nn.Linear(2, 2, device="meta")  # not the CPU (as a GPU): no waiting at all
    assert bare._gate_on_paint()


def test_a_model_whose_warm_up_fails_still_loads(qtbot, settings, monkeypatch):
    """The warm-up is an optimisation: its failure must not stop a load (a model that cannot run says
    so on its first real frame, as before)."""
    from cnnviz.core import inference
    from cnnviz.qt.main_window import MainWindow

    def broken(model):  # noqa: ANN001, ANN202
        raise RuntimeError("warm-up broke")

    monkeypatch.setattr(inference, "warm_up", broken)
    win = MainWindow("lenet5-mnist", "cpu", settings=settings)
    qtbot.addWidget(win)
    win.show()
    try:
        qtbot.waitUntil(lambda: win.last_result is not None, timeout=WAIT)
        assert win._thread.worker.model is not None and not win.banner.isVisible()
    finally:
        win.shutdown()
