"""The classroom features driven through the whole app (pytest-qt, offscreen): presenter mode, freezing, the
tour, explanations, occlusion, compare, snapshots, panel export, recording and sessions; and the Train panel
on a real controller."""

from __future__ import annotations

import threading

import numpy as np
import pytest

pytest.importorskip("PySide6")

from PIL import Image  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from cnnviz.core.engine.summary import summarize  # noqa: E402
from cnnviz.core.models.zoo import spec_of  # noqa: E402
from cnnviz.qt import session_files  # noqa: E402

WAIT = 60_000


def drawn(app, qtbot, digit: int = 7) -> None:  # noqa: ANN001
    with qtbot.waitSignal(app.window.result_painted, timeout=WAIT,
                          check_params_cb=lambda r: bool(r.top) and r.top[0][0] == str(digit)):
        app.inputs.draw_demo(digit)


def view_action(app, text: str):  # noqa: ANN001, ANN201
    """The View menu's action called ``text`` (what the user clicks, or its key)."""
    return next(a for a in app.window.menu("&View").actions() if a.text() == text)


def file_action(app, text: str, path, monkeypatch) -> None:  # noqa: ANN001
    """The File menu's ``text`` action, with the file dialog answering ``path``."""
    from cnnviz.qt.classroom import sessions

    answer = staticmethod(lambda *a, **k: (str(path), ""))
    monkeypatch.setattr(sessions.QFileDialog, "getSaveFileName", answer)
    monkeypatch.setattr(sessions.QFileDialog, "getOpenFileName", answer)
    next(a for a in app.window.file_menu.actions() if a.text() == text).trigger()


def test_presenter_mode_toggles_and_fonts_grow(app, qtbot):
    window, network, presenter = app.window, app.network, app.presenter
    before = QApplication.font().pointSizeF()
    label_before = network.maps_title.fontInfo().pointSizeF()
    presenter.toggle()
    try:
        assert presenter.active and window.isFullScreen() and app.controller.state.presenter
        assert QApplication.font().pointSizeF() >= before * 1.5
        qtbot.waitUntil(lambda: network.maps_title.fontInfo().pointSizeF() > label_before * 1.4, timeout=5000)
        assert network.input_view.field.pen().width() == 5 and not network.arithmetic.isVisible()
        assert not network.filters.isVisible()
    finally:
        presenter.toggle()
    assert not presenter.active and not window.isFullScreen()
    assert QApplication.font().pointSizeF() == pytest.approx(before)


def test_freeze_holds_the_views_and_going_live_catches_up(app, qtbot):
    controller = app.controller
    drawn(app, qtbot, 7)
    qtbot.waitUntil(controller.is_idle, timeout=WAIT)
    freeze = view_action(app, "Freeze")
    freeze.trigger()
    assert freeze.isChecked() and "FROZEN" in app.window.status_label.text()
    shown, asked = controller.last_frame, controller.frames_asked
    app.inputs.draw_demo(3)
    assert controller.frames_asked == asked and controller.is_idle()  # nothing is computed while frozen
    assert controller.last_frame is shown and app.inputs.softmax.top[0][0] == "7"  # nor repainted
    with qtbot.waitSignal(app.window.result_painted, timeout=WAIT, check_params_cb=lambda r: r.top[0][0] == "3"):
        freeze.trigger()
    assert not freeze.isChecked()


def test_the_colour_map_for_magnitudes_is_chosen_in_the_view_menu(app, qtbot, settings):
    controller = app.controller
    menu = next(a.menu() for a in app.window.menu("&View").actions() if a.text() == "Colour map for magnitudes")
    cividis = next(a for a in menu.actions() if a.text() == "cividis")
    with qtbot.waitSignal(app.window.result_painted, timeout=WAIT):
        controller.select_stage("relu1")  # (magnitudes: a rectified stage)
    viridis = controller.last_frame.mosaic
    with qtbot.waitSignal(app.window.result_painted, timeout=WAIT,
                          check_params_cb=lambda r: r.selected == "relu1" and not np.array_equal(r.mosaic, viridis)):
        cividis.trigger()
    assert controller.state.magnitude_map == "cividis" and settings.magnitude_map == "cividis"
    assert cividis.isChecked() and sum(a.isChecked() for a in menu.actions()) == 1


def test_snapshot_keeps_the_state_beside_the_live_view(app, qtbot):
    drawn(app, qtbot, 7)
    view_action(app, "Snapshot").trigger()
    dock = app.snapshots.dock
    assert dock.isVisible() and len(dock.snapshots) == 1 and "'7'" in dock.snapshots[0][1]
    assert not dock.snapshots[0][0].isNull() and "lenet5-mnist" in dock.caption.text()


def test_tour_visits_every_stage_with_captions_equal_to_summary(app, qtbot):
    controller, tour, strip = app.controller, app.tour, app.network.strip
    tour.toggle()
    qtbot.waitUntil(lambda: tour.active, timeout=WAIT)
    model = controller.worker.model
    rows = {r.name: r for r in summarize(model, spec_of(model).input_shape).stages}
    visited = []
    bar = tour.bar
    assert bar.current.stage == "input"
    for _ in range(len(bar.steps) - 1):
        bar.next()
        step = bar.current
        qtbot.waitUntil(lambda s=step: controller.last_frame.selected == s.stage, timeout=WAIT)
        assert strip.cards[step.stage].styleSheet().count("2166ac") == 1  # highlighted in the strip
        row = rows[step.stage]
        assert list(step.output_shape) == row.output_shape and step.params == row.params
        if row.params:
            assert f"{row.params:,} parameters" in bar.caption.text()
        visited.append(step.stage)
    assert visited == list(rows)  # every stage, in order
    assert "probabilities" in bar.caption.text()
    bar.previous()
    assert bar.current.stage == visited[-2]
    tour.toggle()
    assert not tour.active


def test_gradcam_follows_the_input_on_the_worker(app, qtbot):
    drawn(app, qtbot, 7)
    view = app.explain.view
    app.window.show_view("explain")
    qtbot.waitUntil(lambda: view.last is not None, timeout=WAIT)
    first = view.last
    assert first.method == "gradcam" and first.target_name == "7" and first.overlay.shape == (28, 28, 3)
    assert "'7'" in view.caption.text() and view.item.image is not None
    view.target.setCurrentIndex(view.target.findData(1))
    view.options_changed.emit()
    qtbot.waitUntil(lambda: view.last.target == 1, timeout=WAIT)
    view.set_method("saliency")
    view.options_changed.emit()
    qtbot.waitUntil(lambda: view.last.method == "saliency", timeout=WAIT)
    assert app.controller.state.explain.method == "saliency"
    drawn(app, qtbot, 3)  # a new input: the explanation follows it
    qtbot.waitUntil(lambda: view.last.model_input is not first.model_input
                    and not np.array_equal(view.last.model_input, first.model_input), timeout=WAIT)


def test_occlusion_patch_moves_the_probabilities(app, qtbot):
    window, controller, input_view = app.window, app.controller, app.network.input_view
    drawn(app, qtbot, 7)
    clean = dict(controller.last_frame.top)["7"]
    view = app.explain.view
    window.show_view("explain")
    view.patch.setValue(14)
    view.occlude.setChecked(True)
    assert input_view.occlusion is not None
    with qtbot.waitSignal(window.result_painted, timeout=WAIT,
                          check_params_cb=lambda r: "occluded" in r.steps[-1][0]
                          and r.model_input[:14, :14].std() == 0):
        input_view.move_patch(0, 0)
    with qtbot.waitSignal(window.result_painted, timeout=WAIT,
                          check_params_cb=lambda r: r.model_input[7:21, 7:21].std() == 0):
        input_view.move_patch(7, 7)  # over the middle of the 7
    assert dict(controller.last_frame.top).get("7", 0.0) < clean
    view.occlude.setChecked(False)
    assert input_view.occlusion is None and controller.state.occlusion is None


def test_compare_two_inputs_side_by_side(app, qtbot):
    drawn(app, qtbot, 1)
    compare = app.compare
    compare.pin_input()
    app.window.show_view("compare")
    drawn(app, qtbot, 7)
    view = compare.view
    qtbot.waitUntil(lambda: view.last is not None and view.last.top_b[0][0] == "7", timeout=WAIT)
    result = view.last
    assert result.top_a[0][0] == "1" and result.a.shape == result.b.shape == result.diff.shape
    assert result.largest > 0 and "B - A" in view.labels["diff"].text()
    assert "predicts '1'" in view.labels["a"].text() and "predicts '7'" in view.labels["b"].text()


def test_panels_save_as_png_and_copy(app, tmp_path):
    export = app.export
    path = export.save_panel("feature maps", tmp_path / "maps")
    assert path.suffix == ".png" and Image.open(path).size[0] > 100
    export.copy_panel("prediction")
    assert not QApplication.clipboard().image().isNull()
    assert "copied" in app.window.status_label.text()


def test_recording_two_seconds_gives_a_gif_with_frames(app, qtbot, tmp_path):
    export, window = app.export, app.window
    target = tmp_path / "lesson.gif"
    ticks: list[float] = []
    export.recorder.ticked.connect(ticks.append)
    export.start_recording("window", target)
    assert export.rec_label.isVisible() and "REC" in window.windowTitle()
    for n, digit in enumerate((1, 4, 7), start=1):  # something to see: the window changes while it records
        app.inputs.draw_demo(digit)
        qtbot.waitUntil(lambda n=n: len(ticks) >= 7 * n, timeout=WAIT)  # (10 grabs a second)
    with qtbot.waitSignal(export.recorder.finished, timeout=WAIT) as done:
        export.stop_recording()
    written = done.args[1]
    assert written >= 10  # 21 grabs asked; a loaded CI machine may drop some
    gif = Image.open(target)
    durations = []
    for i in range(gif.n_frames):  # Pillow merges identical consecutive frames, adding up their durations
        gif.seek(i)
        durations.append(gif.info["duration"])
    assert gif.n_frames >= 3 and sum(durations) >= 100 * written * 0.9
    assert not export.rec_label.isVisible() and window.windowTitle() == "cnnviz"


def test_session_saved_and_opened_restores_the_same_view(app, make_app, qtbot, tmp_path, monkeypatch):
    from cnnviz.qt.panels.model_bar import ModelBar

    controller = app.controller
    drawn(app, qtbot, 4)
    with qtbot.waitSignal(app.window.result_painted, timeout=WAIT, check_params_cb=lambda r: r.selected == "pool1"):
        controller.select_stage("pool1")
    with qtbot.waitSignal(app.window.result_painted, timeout=WAIT):
        app.window.findChild(ModelBar).per_channel.setChecked(False)
    qtbot.waitUntil(controller.is_idle, timeout=WAIT)  # any result still in flight lands first
    with qtbot.waitSignal(controller.session_saved, timeout=WAIT) as saved:
        file_action(app, "Save session...", tmp_path / "lesson", monkeypatch)
    path = saved.args[0]
    assert path.endswith("lesson.cnnviz")
    before = controller.last_frame

    other = make_app("mnist-cnn-mnist")
    file_action(other, "Open session...", path, monkeypatch)
    other_bar = other.window.findChild(ModelBar)
    qtbot.waitUntil(lambda: other.controller.last_frame.model_name == "lenet5-mnist"
                    and other.controller.last_frame.selected == "pool1" and not other_bar.per_channel.isChecked()
                    and other.controller.last_frame.top == before.top, timeout=WAIT)
    after = other.controller.last_frame
    assert np.array_equal(after.mosaic, before.mosaic) and np.array_equal(after.model_input, before.model_input)
    assert other.lab.bank[0].name == app.lab.bank[0].name
    assert other_bar.model_box.currentData() == "lenet5-mnist"
    assert other.network.maps_title.text().startswith("pool1")


def test_a_damaged_session_keeps_the_current_view(app, qtbot, tmp_path):
    controller, window = app.controller, app.window
    bad = tmp_path / "bad.cnnviz"
    bad.write_text('{"format": "cnnviz-session", "version": 1, "model": 7}')
    qtbot.waitUntil(lambda: controller.last_frame.detail, timeout=WAIT)
    shown = controller.last_frame
    session_files.open_file(controller, bad)
    qtbot.waitUntil(lambda: window.banner.isVisible(), timeout=WAIT)
    # the same model and input on screen (a result may have come in meanwhile: the same picture)
    assert "'model' should be a str" in window.banner.text()
    after = controller.last_frame
    assert after.model_name == shown.model_name and np.array_equal(after.model_input, shown.model_input)
    assert controller.state.model == "lenet5-mnist"


def test_training_in_the_app_makes_the_loss_fall(live, qtbot, monkeypatch, tmp_path):
    from cnnviz.core.train.training import TrainControl
    from cnnviz.qt.panels import train_panel
    from cnnviz.qt.panels.train_panel import TrainPanel

    class Watched(TrainControl):
        """Says when the training thread is held between batches by a pause."""

        def __init__(self) -> None:
            super().__init__()
            self.held = threading.Event()
            self.started = 0  # batches let through

        def checkpoint(self) -> bool:
            if self.paused:
                self.held.set()
            going = super().checkpoint()
            self.started += 1
            return going

    monkeypatch.setattr(train_panel, "TrainControl", Watched)
    controller, (panel,) = live(lambda c: TrainPanel(c, folder=tmp_path))
    try:
        panel.epochs.setValue(4)
        panel.batch.setValue(16)
        panel.start()
        assert panel.running and not panel.start_button.isEnabled()
        qtbot.waitUntil(lambda: len(panel.steps) >= 3, timeout=WAIT)
        control = panel.runner.control
        panel.toggle_pause()
        started = control.started
        assert control.paused and panel.pause_button.text() == "Continue"
        qtbot.waitUntil(control.held.is_set, timeout=WAIT)  # the thread waits between batches
        QApplication.processEvents()  # (the steps it reported before it stopped)
        paused_at = len(panel.steps)
        assert control.started <= started + 1  # at most the batch that was running
        for _ in range(3):
            QApplication.processEvents()
        assert len(panel.steps) == paused_at == control.started  # no batch runs while paused
        panel.toggle_pause()
        qtbot.waitUntil(lambda: panel.trained is not None, timeout=120_000)
        losses = np.asarray(panel.losses)
        assert len(losses) == 4 * 10 and losses[-10:].mean() < losses[:10].mean()
        assert len(panel.loss_curve.getData()[0]) > 0 and len(panel.test_curve.getData()[0]) == 4
        assert panel.filter_item.image is not None and "test accuracy" in panel.status.text()
        with qtbot.waitSignal(controller.model_loaded, timeout=WAIT):
            panel.use_in_main_view()
        assert panel.saved is not None and panel.saved.with_suffix(".json").exists() and panel.saved.parent == tmp_path
        assert controller.state.model == str(panel.saved)
        qtbot.waitUntil(lambda: controller.last_frame.model_name.startswith("lenet5"), timeout=WAIT)
    finally:
        panel.shutdown()


def test_a_stopped_training_resumes_from_its_checkpoint(live, qtbot, monkeypatch, tmp_path):
    import json

    from cnnviz.core.train.checkpoint import read_checkpoint
    from cnnviz.core.train.training import TrainControl
    from cnnviz.qt.panels import train_panel
    from cnnviz.qt.panels.train_panel import TrainPanel

    class StopOnce(TrainControl):
        """Stops the first run after 13 batches (epoch 2 of 10 batches each), on the training thread itself."""

        left = [13]

        def checkpoint(self) -> bool:
            if self.left and self.left[0] == 0:
                self.left.clear()
                self.stop()
            elif self.left:
                self.left[0] -= 1
            return super().checkpoint()

    monkeypatch.setattr(train_panel, "TrainControl", StopOnce)
    picked = []
    monkeypatch.setattr(train_panel.QFileDialog, "getOpenFileName",
                        staticmethod(lambda *a, **k: (picked.append(a), ("", ""))[1]))
    controller, (panel,) = live(lambda c: TrainPanel(c, folder=tmp_path))
    try:
        panel.resume()  # no checkpoint in the folder: a file dialog (answered with Cancel)
        assert len(picked) == 1 and not panel.running
        panel.epochs.setValue(3)
        panel.batch.setValue(16)
        panel.start()
        qtbot.waitUntil(lambda: panel.trained is not None, timeout=WAIT)
        checkpoint = tmp_path / "lenet5-samples-mnist.ckpt"
        assert len(panel.steps) == 13 and read_checkpoint(checkpoint).epoch == 1  # the last whole epoch is kept
        assert "checkpoint holds epoch 1: Resume goes on" in panel.status.text()
        assert json.loads((tmp_path / "lenet5-samples-mnist.ckpt.json").read_text())["checkpoint_epoch"] == 1
        assert panel.resume_button.isEnabled() and checkpoint.name in panel.resume_button.toolTip()

        panel.epochs.setValue(7)  # the checkpoint's own settings come back
        panel.resume_button.click()
        assert panel.running and not panel.resume_button.isEnabled()
        qtbot.waitUntil(lambda: panel.trained is not None, timeout=WAIT)
        history = panel.trained.result.history
        assert len(picked) == 1 and [h.epoch for h in history] == [1, 2, 3] and panel.epochs.value() == 3
        assert panel.steps == list(range(11, 31))  # epochs 2 and 3: only the interrupted epoch again
        assert len(panel.test_points) == 3 and panel.trained.result.resumed_from["epoch"] == 1
        assert read_checkpoint(checkpoint).finished

        bad = tmp_path / "bad.ckpt"
        bad.write_text("{}")
        panel.resume(bad)
        qtbot.waitUntil(lambda: not panel.running, timeout=WAIT)
        assert panel.status.text() == "bad.ckpt is not a cnnviz training checkpoint (not readable as one: damaged, " \
                                      "truncated or another kind of file)."
    finally:
        panel.shutdown()
