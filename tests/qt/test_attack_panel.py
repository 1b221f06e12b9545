"""The Attack view both ways, against a fake controller and the real LeNet-5: the attack made with the
settings on screen while shown, the pictures and probabilities it shows, "Use as input" handing the
adversarial tensor itself to the controller; and in the whole app, every view switched to it."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("PySide6")

from PySide6.QtWidgets import QApplication  # noqa: E402

WAIT = 60_000


@pytest.fixture
def panel(qtbot, fake, lenet):
    from cnnviz.core.data.strokes import demo_digit, render
    from cnnviz.core.models.zoo import spec_of
    from cnnviz.qt.panels.attack_panel import AttackPanel

    fake.inputs["draw"] = render(demo_digit(7))
    fake.spec = spec_of(lenet)
    made = AttackPanel(fake)
    qtbot.addWidget(made)
    made.resize(1000, 700)
    made.show()
    qtbot.waitExposed(made)
    fake.model_loaded.emit(fake.spec, "")
    return made


def _run(fake, lenet) -> int:  # noqa: ANN001
    """Run the recorded attack jobs as the worker would; returns how many there were."""
    from cnnviz.qt.worker import Loaded

    jobs = [a for a in fake.called("run_job") if a[0] == "attack"]
    fake.calls = [c for c in fake.calls if not (c[0] == "run_job" and c[1][0] == "attack")]
    for args in jobs:
        args[2](args[1](Loaded(lenet, None)))
    return len(jobs)


def test_shown_it_attacks_the_input_and_shows_before_and_after(panel, fake, lenet):
    from cnnviz.core.engine.preprocess import prepare
    from cnnviz.core.models.zoo import spec_of

    assert _run(fake, lenet) == 0  # not on screen: nothing is computed
    fake.change(view="attack")
    assert _run(fake, lenet) == 1
    result = panel.result
    assert (result.method, result.eps, result.steps, result.target) == ("pgd", 0.1, 20, None)
    assert torch_equal(result.input, prepare(fake.inputs["draw"], spec_of(lenet)).tensor)
    assert result.class_before == 7 and result.flipped and result.linf <= 0.1 + 1e-6
    assert panel.before_title.text() == f"before: 7 {100 * result.prob_before:.1f} %"
    assert panel.after_title.text().startswith(f"after: {result.name(result.class_after)} ")
    assert panel.before.top[0][0] == "7" and panel.after.top[0][0] == result.name(result.class_after)
    assert "the prediction flipped" in panel.verdict.text()
    assert all(not label.pixmap().isNull() for label in panel.pictures) and panel.use_button.isEnabled()


def test_the_settings_on_screen_make_the_attack(panel, fake, lenet):
    fake.change(view="attack")
    _run(fake, lenet)
    panel.eps.setValue(30)  # (a key or a click on the groove: the slider is not held)
    assert panel.eps_label.text().startswith("0.30 (76 of 255")
    _run(fake, lenet)
    assert panel.result.eps == pytest.approx(0.3) and panel.result.linf <= 0.3 + 1e-6
    panel.method.setCurrentIndex(0)
    panel.method.activated.emit(0)
    _run(fake, lenet)
    assert panel.result.method == "fgsm" and not panel.steps.isEnabled()
    panel.target.setCurrentIndex(panel.target.findText("2"))
    panel.target.activated.emit(panel.target.currentIndex())
    _run(fake, lenet)
    assert panel.result.target == 2 and ("towards 2" in panel.verdict.text())


def test_use_as_input_sends_the_adversarial_tensor(panel, fake, lenet):
    from cnnviz.core.teach.adversarial import adversarial_picture

    fake.change(view="attack")
    _run(fake, lenet)
    panel.use_as_input()
    (picture, tensor, note), = fake.called("use_model_input")
    assert np.array_equal(picture, adversarial_picture(panel.result))
    assert torch_equal(tensor, panel.result.adversarial) and "adversarial" in note


def test_in_the_app_every_view_shows_the_adversarial_input(app, qtbot, lenet):
    controller, panel = app.controller, app.attack
    app.inputs.draw_demo(7)
    app.window.show_view("attack")
    qtbot.waitUntil(lambda: panel.ready and panel.result.class_before == 7, timeout=WAIT)
    result = panel.result
    assert result.flipped
    after = result.name(result.class_after)
    panel.use_as_input()
    qtbot.waitUntil(lambda: controller.state.source == "image" and controller.last_frame.top[0][0] == after
                    and controller.last_frame.detail, timeout=WAIT)
    assert torch_equal(controller.current_tensor(), result.adversarial)
    assert controller.last_frame.top[0][1] == pytest.approx(result.prob_after, abs=1e-5)  # the exact tensor
    assert app.inputs.softmax.top[0][0] == after
    app.window.show_view("convolution")  # the other views see it too
    qtbot.waitUntil(lambda: app.convolution.frame is not None, timeout=WAIT)
    from cnnviz.core.engine.capture import capture

    expected = capture(lenet, result.adversarial[None]).by_name("conv1").output[0, 0]
    assert np.allclose(app.convolution.frame.sweep.captured, expected.numpy(), atol=1e-5)
    app.inputs.draw_demo(3)  # a new drawing: the exact tensor no longer applies
    app.inputs.tabs.setCurrentIndex(0)
    qtbot.waitUntil(lambda: controller.state.source == "draw" and controller.current_tensor() is None, timeout=WAIT)


def torch_equal(a, b) -> bool:  # noqa: ANN001
    import torch

    return a.shape == b.shape and bool(torch.equal(a.float().cpu(), b.float().cpu()))


def test_presenter_mode_enlarges_the_pictures_and_puts_the_controls_in_two_rows(panel, fake, lenet):
    fake.change(view="attack")
    _run(fake, lenet)
    side = panel.pictures[0].width()
    row_y = panel.method.geometry().y()
    assert panel.use_button.geometry().y() == pytest.approx(row_y, abs=12)  # one row
    fake.change(presenter=True)
    QApplication.processEvents()  # (the layout's new geometry)
    assert panel.pictures[0].width() == round(side * 1.3) and panel.pictures[0].pixmap().width() == round(side * 1.3)
    assert panel.use_button.geometry().y() > panel.method.geometry().bottom()  # the second row
    assert not panel.pictures[2].pixmap().isNull()
    fake.change(presenter=False)
    QApplication.processEvents()
    assert panel.pictures[0].width() == side and panel.pictures[0].pixmap().width() == side
    assert panel.use_button.geometry().y() == pytest.approx(panel.method.geometry().y(), abs=12)
