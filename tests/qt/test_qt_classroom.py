"""The classroom features driven through the real window (pytest-qt, offscreen): presenter mode, the
tour, explanations, occlusion, compare, snapshots, panel export, recording, sessions and training."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("PySide6")

from PIL import Image  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from cnnviz.core.summary import summarize  # noqa: E402
from cnnviz.core.zoo import spec_of  # noqa: E402

WAIT = 60_000


@pytest.fixture
def window(window, qtbot):
    """The shared window, once its first result is on screen."""
    qtbot.waitUntil(lambda: window.last_result is not None, timeout=WAIT)
    return window


def _drawn(window, qtbot, digit: int = 7) -> None:
    with qtbot.waitSignal(window.result_painted, timeout=WAIT,
                          check_params_cb=lambda r: bool(r.top) and r.top[0][0] == str(digit)):
        window.draw_demo(digit)


def test_presenter_mode_toggles_and_fonts_grow(window, qtbot):
    classroom = window.classroom
    before = QApplication.font().pointSizeF()
    label_before = window.maps_title.fontInfo().pointSizeF()
    classroom.toggle_presenter()
    try:
        assert classroom.presenter.active and window.isFullScreen()
        assert QApplication.font().pointSizeF() >= before * 1.5
        qtbot.waitUntil(lambda: window.maps_title.fontInfo().pointSizeF() > label_before * 1.4, timeout=5000)
        assert window.input_view.field.pen().width() == 5 and not window.arithmetic.isVisible()
        assert not window.filters.isVisible()
    finally:
        classroom.toggle_presenter()
    assert not classroom.presenter.active and not window.isFullScreen()
    assert QApplication.font().pointSizeF() == pytest.approx(before)


def test_freeze_holds_the_views_and_going_live_catches_up(window, qtbot):
    _drawn(window, qtbot, 7)
    window.classroom.toggle_freeze()
    shown = window.last_result
    window.draw_demo(3)
    qtbot.wait(600)
    assert window.last_result is shown  # nothing repainted while frozen
    with qtbot.waitSignal(window.result_painted, timeout=WAIT, check_params_cb=lambda r: r.top[0][0] == "3"):
        window.classroom.toggle_freeze()


def test_snapshot_keeps_the_state_beside_the_live_view(window, qtbot):
    _drawn(window, qtbot, 7)
    window.classroom.snapshot()
    dock = window.classroom.snapshots
    assert dock.isVisible() and len(dock.snapshots) == 1 and "'7'" in dock.snapshots[0][1]
    assert not dock.snapshots[0][0].isNull()


def test_tour_visits_every_stage_with_captions_equal_to_summary(window, qtbot):
    classroom = window.classroom
    classroom.toggle_tour()
    qtbot.waitUntil(lambda: classroom.tour.active, timeout=WAIT)
    model = window._thread.worker.model
    rows = {r.name: r for r in summarize(model, spec_of(model).input_shape).stages}
    visited = []
    bar = classroom.tour
    assert bar.current.stage == "input"
    for _ in range(len(bar.steps) - 1):
        bar.next()
        step = bar.current
        qtbot.waitUntil(lambda s=step: window.last_result.selected == s.stage, timeout=WAIT)
        assert window.strip.cards[step.stage].styleSheet() != ""  # highlighted in the strip
        row = rows[step.stage]
        assert list(step.output_shape) == row.output_shape and step.params == row.params
        if row.params:
            assert f"{row.params:,} parameters" in bar.caption.text()
        visited.append(step.stage)
    assert visited == list(rows)  # every stage, in order
    assert "probabilities" in bar.caption.text()
    bar.previous()
    assert bar.current.stage == visited[-2]


def test_gradcam_follows_the_input_on_the_worker(window, qtbot):
    _drawn(window, qtbot, 7)
    classroom = window.classroom
    window.views.setCurrentWidget(classroom.explain)
    qtbot.waitUntil(lambda: classroom.explain.last is not None, timeout=WAIT)
    first = classroom.explain.last
    assert first.method == "gradcam" and first.target_name == "7" and first.overlay.shape == (28, 28, 3)
    classroom.explain.target.setCurrentIndex(classroom.explain.target.findData(1))
    classroom.explain.options_changed.emit()
    qtbot.waitUntil(lambda: classroom.explain.last.target == 1, timeout=WAIT)
    classroom.explain.set_method("saliency")
    classroom.explain.options_changed.emit()
    qtbot.waitUntil(lambda: classroom.explain.last.method == "saliency", timeout=WAIT)
    _drawn(window, qtbot, 3)  # a new input: the explanation follows it
    qtbot.waitUntil(lambda: classroom.explain.last.model_input is not first.model_input
                    and not np.array_equal(classroom.explain.last.model_input, first.model_input), timeout=WAIT)


def test_occlusion_patch_moves_the_probabilities(window, qtbot):
    _drawn(window, qtbot, 7)
    clean = dict(window.last_result.top)["7"]
    classroom = window.classroom
    window.views.setCurrentWidget(classroom.explain)
    classroom.explain.patch.setValue(14)
    classroom.explain.occlude.setChecked(True)
    assert window.input_view.occlusion is not None
    with qtbot.waitSignal(window.result_painted, timeout=WAIT,
                          check_params_cb=lambda r: "occluded" in r.steps[-1][0]
                          and r.model_input[:14, :14].std() == 0):
        window.input_view.move_patch(0, 0)
    with qtbot.waitSignal(window.result_painted, timeout=WAIT,
                          check_params_cb=lambda r: r.model_input[7:21, 7:21].std() == 0):
        window.input_view.move_patch(7, 7)  # over the middle of the 7
    assert dict(window.last_result.top).get("7", 0.0) < clean
    classroom.explain.occlude.setChecked(False)
    assert window.input_view.occlusion is None


def test_dead_channels_are_flagged_on_the_maps(window, qtbot):
    window.select_stage("relu2")
    with qtbot.waitSignal(window.result_painted, timeout=WAIT, check_params_cb=lambda r: r.selected == "relu2"):
        window.canvas.clear()  # an empty canvas: many rectified maps are zero everywhere
    health = window.last_result.health
    assert health is not None and health.dead
    shown = [f for f in window.maps.flags if f.isVisible()]
    assert len(shown) == len(health.dead) and "dead" in window.maps_title.text()


def test_compare_two_inputs_side_by_side(window, qtbot):
    _drawn(window, qtbot, 1)
    classroom = window.classroom
    classroom.pin_input()
    window.views.setCurrentWidget(classroom.compare)
    _drawn(window, qtbot, 7)
    qtbot.waitUntil(lambda: classroom.compare.last is not None and classroom.compare.last.top_b[0][0] == "7",
                    timeout=WAIT)
    result = classroom.compare.last
    assert result.top_a[0][0] == "1" and result.a.shape == result.b.shape == result.diff.shape
    assert result.largest > 0 and "B - A" in classroom.compare.labels["diff"].text()


def test_panels_save_as_png_and_copy(window, qtbot, tmp_path):
    classroom = window.classroom
    path = classroom.save_panel("feature maps", tmp_path / "maps")
    assert path.suffix == ".png" and Image.open(path).size[0] > 100
    classroom.copy_panel("prediction")
    assert not QApplication.clipboard().image().isNull()


def test_recording_two_seconds_gives_a_gif_with_frames(window, qtbot, tmp_path):
    classroom = window.classroom
    target = tmp_path / "lesson.gif"
    classroom.start_recording("window", target)
    assert classroom.rec_label.isVisible() and "REC" in window.windowTitle()
    for digit in (1, 4, 7):  # something to see: the window changes while it records
        window.draw_demo(digit)
        qtbot.wait(700)
    with qtbot.waitSignal(classroom.recorder.finished, timeout=WAIT) as done:
        classroom.stop_recording()
    written = done.args[1]
    assert written >= 10  # 10 frames/s asked; a loaded CI machine may drop some
    gif = Image.open(target)
    durations = []
    for i in range(gif.n_frames):  # Pillow merges identical consecutive frames, adding up their durations
        gif.seek(i)
        durations.append(gif.info["duration"])
    assert gif.n_frames >= 3 and sum(durations) >= 100 * written * 0.9
    assert not classroom.rec_label.isVisible()


def test_session_saved_and_opened_restores_the_same_view(window, qtbot, tmp_path, settings):
    from cnnviz.qt.main_window import MainWindow

    _drawn(window, qtbot, 4)
    with qtbot.waitSignal(window.result_painted, timeout=WAIT, check_params_cb=lambda r: r.selected == "pool1"):
        window.select_stage("pool1")
    with qtbot.waitSignal(window.result_painted, timeout=WAIT):
        window.per_channel.setChecked(False)
    qtbot.wait(300)  # any result still in flight lands first
    with qtbot.waitSignal(window.classroom.session_saved, timeout=WAIT) as saved:
        window.classroom.save_session(tmp_path / "lesson")
    path = saved.args[0]
    assert path.endswith("lesson.cnnviz")
    before = window.last_result

    other = MainWindow("mnist-cnn-mnist", "cpu", settings=settings)
    qtbot.addWidget(other)
    other.show()
    try:
        qtbot.waitUntil(lambda: other.last_result is not None, timeout=WAIT)
        other.classroom.open_session(path)
        qtbot.waitUntil(lambda: other.last_result is not None and other.last_result.model_name == "lenet5-mnist"
                        and other.last_result.selected == "pool1" and not other.per_channel.isChecked()
                        and other.last_result.top == before.top, timeout=WAIT)
        after = other.last_result
        assert np.array_equal(after.mosaic, before.mosaic) and np.array_equal(after.model_input, before.model_input)
        assert other.lab.bank[0].name == window.lab.bank[0].name
    finally:
        other.shutdown()


def test_a_damaged_session_keeps_the_current_view(window, qtbot, tmp_path):
    bad = tmp_path / "bad.cnnviz"
    bad.write_text('{"format": "cnnviz-session", "version": 1, "model": 7}')
    qtbot.waitUntil(lambda: window.last_result is not None and window.last_result.detail, timeout=WAIT)
    shown = window.last_result
    window.classroom.open_session(bad)
    qtbot.waitUntil(lambda: window.banner.isVisible(), timeout=WAIT)
    # the same model and input on screen (a result may have come in meanwhile: the same picture)
    assert "'model' should be a str" in window.banner.text()
    after = window.last_result
    assert after.model_name == shown.model_name and np.array_equal(after.model_input, shown.model_input)


def test_training_in_the_app_makes_the_loss_fall(window, qtbot):
    panel = window.classroom.train
    window.views.setCurrentWidget(panel)
    panel.epochs.setValue(4)
    panel.batch.setValue(16)
    panel.start()
    assert panel.running
    qtbot.waitUntil(lambda: len(panel.steps) >= 3, timeout=WAIT)
    panel.toggle_pause()
    assert panel.runner.control.paused
    qtbot.wait(300)
    paused_at = len(panel.steps)
    qtbot.wait(300)
    assert len(panel.steps) <= paused_at + 1  # at most the batch that was running
    panel.toggle_pause()
    qtbot.waitUntil(lambda: panel.trained is not None, timeout=120_000)
    losses = np.asarray(panel.losses)
    assert len(losses) == 4 * 10 and losses[-10:].mean() < losses[:10].mean()
    assert len(panel.loss_curve.getData()[0]) > 0 and len(panel.test_curve.getData()[0]) == 4
    assert panel.filter_item.image is not None
    with qtbot.waitSignal(window.result_painted, timeout=WAIT, check_params_cb=lambda r: "lenet5" in r.model_name):
        panel.use_in_main_view()
    assert panel.saved is not None and panel.saved.with_suffix(".json").exists()
