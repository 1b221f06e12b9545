"""Switching models keeps nothing of the models switched away from: counted (models alive, Qt objects, strip
cards), never timed. `cnnviz bench --scenario soak` watches the same thing as resident memory."""

from __future__ import annotations

import weakref

from PySide6.QtCore import QEvent, QObject
from PySide6.QtWidgets import QApplication

WAIT = 60_000  # ms


def test_switching_models_keeps_nothing_of_the_previous_ones(app, qtbot):
    from cnnviz.qt import gc_guard
    from cnnviz.qt.views.network_strip import StageCard

    controller, window = app.controller, app.window
    loads: list[str] = []
    controller.model_loaded.connect(lambda spec, _description: loads.append(spec.name))
    models, qt_objects = [], []
    for i in range(6):
        name = ("mnist-cnn-mnist", "lenet5-mnist")[i % 2]
        before = len(loads)
        controller.load_model(name)
        qtbot.waitUntil(lambda: len(loads) > before, timeout=WAIT)  # noqa: B023 - waited for at once
        qtbot.waitUntil(lambda: controller.last_frame.model_name == name and controller.is_idle(),  # noqa: B023
                        timeout=WAIT)
        models.append(weakref.ref(controller.worker.model))
        QApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)  # (the widgets a switch let go of)
        qt_objects.append(len(window.findChildren(QObject)))
        stages = len(controller.last_frame.stages)
        assert len(app.network.strip.findChildren(StageCard)) == stages  # this model's cards, no others
    gc_guard.settle()  # (what the app does once a model has loaded: collect, then leave the survivors be)
    assert [ref() is not None for ref in models] == [False] * 5 + [True]  # only the model on screen is alive
    assert qt_objects[2:4] == qt_objects[4:6]  # the same model, the same widgets, however many switches
