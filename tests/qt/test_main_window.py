"""The window shell against a fake controller: the status line, the banner, the title, the busy bar, the
view tabs, the paint it reports, the about box and the error hook."""

from __future__ import annotations

import sys

import pytest

pytest.importorskip("PySide6")

from PySide6.QtWidgets import QApplication, QLabel, QWidget  # noqa: E402

WAIT = 60_000


@pytest.fixture
def window(qtbot, fake, settings):
    from cnnviz.qt.main_window import MainWindow

    shell = MainWindow(fake, settings, QWidget())
    for key, title in (("compare", "Compare"), ("network", "Network"), ("lab", "Kernel lab")):
        shell.add_view(key, QLabel(title), title)  # (in any order: the tabs follow VIEWS)
    qtbot.addWidget(shell)
    shell.resize(900, 600)
    shell.show()
    qtbot.waitExposed(shell)
    return shell


def test_the_view_tabs_follow_the_state_and_tell_the_controller(window, fake):
    assert [window.views.tabText(i) for i in range(window.views.count())] == ["Network", "Kernel lab", "Compare"]
    assert window.view_key == "network"  # the state's view, whatever the order the tabs were added in
    window.views.setCurrentIndex(2)
    assert fake.called("set_view") == [("compare",)] and window.view_key == "compare"
    fake.change(view="lab")  # (a session, the tour)
    assert window.view_key == "lab" and fake.called("set_view")[-1] == ("lab",)


def test_messages_title_and_busy_bar(window, fake):
    fake.model_loading.emit("/models/big-net.safetensors")
    assert window.busy.isVisible() and window.status_label.text() == "loading big-net.safetensors..."
    fake.model_loaded.emit(None, "LeNet")
    assert not window.busy.isVisible()
    fake.error.emit("That file is not a model.")
    assert window.banner.isVisible() and window.banner.text() == "That file is not a model."
    fake.cleared.emit()
    assert not window.banner.isVisible()
    fake.edited_changed.emit(True)
    assert "edited" in window.windowTitle()
    fake.edited_changed.emit(False)
    assert window.windowTitle() == "cnnviz"
    fake.status.emit("session saved")
    assert window.status_label.text() == "session saved"


def test_a_painted_frame_is_reported_once(window, fake, frame_of, qtbot):
    result = frame_of(7)
    with qtbot.waitSignal(window.result_painted, timeout=WAIT) as painted:
        fake.show(result)
    assert painted.args == [result] and fake.called("painted") == [()]
    window.status_label.setText("another reading")  # a later paint, without a new frame, reports nothing
    for _ in range(3):
        QApplication.processEvents()
    assert fake.called("painted") == [()]


def test_the_status_line_is_rewritten_a_few_times_a_second_not_per_update(window, fake, frame_of, monkeypatch):
    """A new status text re-lays the window out; at 180 updates/s that was a tenth of the GUI thread."""
    from types import SimpleNamespace

    from cnnviz.qt import main_window as main_window_module

    result = frame_of(3)
    clock = [1000.0]
    monkeypatch.setattr(main_window_module, "time", SimpleNamespace(perf_counter=lambda: clock[0]))
    written = []
    set_text = window.status_label.setText
    monkeypatch.setattr(window.status_label, "setText", lambda text: written.append(text) or set_text(text))
    for _ in range(20):  # 20 results in 0.2 s
        fake.frame_shown.emit(result)
        clock[0] += 0.01
    assert len(written) == 1 and "forward" in written[0] and written[0].startswith("lenet5-mnist on cpu")
    window.status_label.setText("session saved")  # another message: the next result names the model again
    fake.frame_shown.emit(result)
    assert len(written) == 3 and window.status_label.text().startswith(result.model_name)


def test_about_box_names_versions_and_device(window, fake):
    text = window.about_text()
    assert "cnnviz 0." in text and "torch" in text and "PySide6" in text and "device in use: cpu" in text
    assert "model: lenet5-mnist" in text


def test_exception_in_a_slot_reaches_the_handler(window, monkeypatch):
    from cnnviz.qt.app import install_error_hook

    monkeypatch.setattr(sys, "excepthook", sys.excepthook)
    install_error_hook(window)
    sys.excepthook(RuntimeError, RuntimeError("slot blew up"), None)
    assert "slot blew up" in window.banner.text() and window.banner.isVisible()


def test_paste_without_an_image_says_so(window, fake):
    from PySide6.QtGui import QGuiApplication

    QGuiApplication.clipboard().clear()
    assert not window.paste()
    assert "no image" in window.banner.text() and fake.called("use_image") == []
