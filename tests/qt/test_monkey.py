"""A seeded monkey drives the real window: random clicks, drags, wheel turns and keys over every tab,
panel and menu, file dialogs answered with hostile and good files, message boxes answered, model and
device switches. It fails on any exception reaching the event loop (pytest-qt reports those), any Python
warning, anything on stderr that is not cnnviz's own, and any stall of the GUI thread over one second.

CI runs it for CNNVIZ_MONKEY_S seconds (default 45); a release check runs it longer, e.g.
``CNNVIZ_MONKEY_S=600 CNNVIZ_MONKEY_SEED=7 pytest tests/qt/test_monkey.py -s`` (it prints its figures).
"""

from __future__ import annotations

import os
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("PySide6")

from PySide6.QtCore import QPoint, QPointF, Qt, QTimer  # noqa: E402
from PySide6.QtGui import QAction, QWheelEvent  # noqa: E402
from PySide6.QtTest import QTest  # noqa: E402
from PySide6.QtWidgets import QApplication, QFileDialog, QMessageBox, QWidget  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/hostile.py

SECONDS = float(os.environ.get("CNNVIZ_MONKEY_S", "45"))
SEED = int(os.environ.get("CNNVIZ_MONKEY_SEED", "1"))
STALL_S = 1.0
#: A file that gets every action as it happens (flushed): the last line names what a native crash did.
LOG = os.environ.get("CNNVIZ_MONKEY_LOG", "")
KEYS = ["F", "S", "T", "P", "E", "R", "Home", "Left", "Right", "Delete", "PgDown", "PgUp", "Escape", "[", "]",
        ".", ",", "Ctrl+Z", "Ctrl+1", "Ctrl+2", "Ctrl+3", "Ctrl+4", "F11", "Ctrl+V", "Ctrl+Shift+R"]
#: Menu actions the monkey leaves alone: quitting ends the run; recording writes video for as long as it runs.
SKIPPED_ACTIONS = ("Quit", "Record window...", "Stop recording")
MODELS = ["lenet5-mnist", "mnist-cnn-mnist", "lenet5", "resnet18", "mnist-cnn-fashion"]


@dataclass
class Figures:
    actions: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)
    longest_gap_s: float = 0.0
    stalls: list[tuple[str, float]] = field(default_factory=list)
    dialogs: int = 0


def _files(root: Path) -> list[str]:
    """What the file dialogs answer: the hostile corpus, some good files, and paths that are not files."""
    from hostile import build_corpus

    from cnnviz.core.assets import samples_dir

    items, _canaries = build_corpus(root)
    good = [str(p) for p in sorted((samples_dir() / "photos").iterdir())[:3]]
    return [str(path) for _kind, path in items] + good * 5 + [str(root / "missing.png"), str(root), ""]


def _menu_actions(window: QWidget) -> list[QAction]:
    """Every menu action, sub-menus included, but for those that quit or record."""
    found: list[QAction] = []

    def walk(actions: list[QAction]) -> None:
        for action in actions:
            if action.menu() is not None:
                if action.text() != "Record panel":
                    walk(action.menu().actions())
            elif action.text() and not action.isSeparator() and action.text() not in SKIPPED_ACTIONS:
                found.append(action)

    walk(window.menuBar().actions())
    return found


def _visible_widgets(window: QWidget) -> list[QWidget]:
    return [w for w in window.findChildren(QWidget) if w.isVisible() and w.width() > 2 and w.height() > 2]


def test_the_monkey_finds_nothing(make_app, torch_home, tmp_path, monkeypatch, qtbot, capfd):
    """(torch_home: a weights file the monkey installs goes to a throw-away torch cache.)"""
    rng = np.random.default_rng(SEED)
    files = _files(tmp_path / "corpus")
    figures = Figures()

    def answer_file(*_args, **_kwargs):  # noqa: ANN002, ANN003, ANN202
        figures.dialogs += 1
        return str(rng.choice(files)), ""

    def answer_save(*_args, **_kwargs):  # noqa: ANN002, ANN003, ANN202
        figures.dialogs += 1
        return str(tmp_path / "saved" / f"out{rng.integers(3)}{rng.choice(['.png', '.cnnviz', '.json', ''])}"), ""

    (tmp_path / "saved").mkdir()
    monkeypatch.setattr(QFileDialog, "getOpenFileName", staticmethod(answer_file))
    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(answer_save))
    monkeypatch.setattr(QFileDialog, "getExistingDirectory",
                        staticmethod(lambda *_a, **_k: str(rng.choice([str(tmp_path), str(tmp_path / "corpus"), ""]))))
    for name in ("warning", "information", "question", "critical"):
        monkeypatch.setattr(QMessageBox, name, staticmethod(lambda *_a, **_k: QMessageBox.StandardButton.Cancel))
    monkeypatch.setattr(QMessageBox, "about", staticmethod(lambda *_a, **_k: None))
    app = make_app()
    window, controller = app.window, app.controller
    actions = _menu_actions(window)

    def point_in(widget: QWidget) -> QPoint:
        return QPoint(int(rng.integers(1, max(2, widget.width() - 1))),
                      int(rng.integers(1, max(2, widget.height() - 1))))

    def click() -> None:
        widget = rng.choice(_visible_widgets(window))
        note(f"click {type(widget).__name__} {widget.objectName()}")
        QTest.mouseClick(widget, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, point_in(widget))

    def drag() -> None:
        widget = rng.choice(_visible_widgets(window))
        note(f"drag {type(widget).__name__}")
        start = point_in(widget)
        QTest.mousePress(widget, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, start)
        for _ in range(int(rng.integers(1, 6))):
            QTest.mouseMove(widget, point_in(widget))
        QTest.mouseRelease(widget, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, point_in(widget))

    def wheel() -> None:
        widget = rng.choice(_visible_widgets(window))
        note(f"wheel {type(widget).__name__}")
        where = QPointF(point_in(widget))
        event = QWheelEvent(where, QPointF(widget.mapToGlobal(where.toPoint())), QPoint(),
                            QPoint(0, int(rng.choice([-240, -120, 120, 240]))), Qt.MouseButton.NoButton,
                            Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
        QApplication.sendEvent(widget, event)

    def key() -> None:
        from PySide6.QtGui import QKeySequence

        sequence = QKeySequence(str(rng.choice(KEYS)))
        note(f"key {sequence.toString()}")
        combo = sequence[0]
        QTest.keyClick(window, combo.key(), combo.keyboardModifiers())

    def menu() -> None:
        action = rng.choice(actions)
        note(f"menu {action.text()}")
        action.trigger()

    def switch() -> None:
        note("switch")
        if rng.random() < 0.8:
            controller.load_model(str(rng.choice(MODELS)), untrained=bool(rng.random() < 0.5))
        else:
            controller.set_device(str(rng.choice(["cpu", "auto"])))

    def tab() -> None:
        note("tab")
        window.views.setCurrentIndex(int(rng.integers(window.views.count())))
        if rng.random() < 0.5:
            app.inputs.tabs.setCurrentIndex(int(rng.integers(app.inputs.tabs.count())))

    moves = {"click": (click, 0.3), "drag": (drag, 0.2), "wheel": (wheel, 0.1), "key": (key, 0.2),
             "menu": (menu, 0.1), "tab": (tab, 0.07), "switch": (switch, 0.03)}
    names = list(moves)
    weights = np.array([moves[n][1] for n in names])
    weights /= weights.sum()
    state = {"done": False, "last": time.perf_counter(), "what": "start"}
    log = open(LOG, "w", buffering=1) if LOG else None  # noqa: SIM115 - open for the whole run

    def note(text: str) -> None:
        if log is not None:
            log.write(text + "\n")
            os.fsync(log.fileno())
    started = time.perf_counter()

    def step() -> None:
        now = time.perf_counter()
        gap = now - state["last"]
        figures.longest_gap_s = max(figures.longest_gap_s, gap)
        if gap > STALL_S:
            figures.stalls.append((state["what"], round(gap, 2)))
        if now - started >= SECONDS:
            state["done"] = True
            timer.stop()
            return
        what = str(rng.choice(names, p=weights))
        state["what"] = what
        figures.by_kind[what] = figures.by_kind.get(what, 0) + 1
        figures.actions += 1
        if app.presenter.active and rng.random() < 0.5:
            app.presenter.toggle()  # (full screen most of the time would leave little to click)
        moves[what][0]()
        state["last"] = time.perf_counter()

    capfd.readouterr()  # (what the start printed is the other tests' business)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        timer = QTimer()
        timer.timeout.connect(step)
        timer.start(15)
        qtbot.waitUntil(lambda: state["done"], timeout=int(SECONDS * 1000) + 120_000)
        if app.presenter.active:
            app.presenter.toggle()
        try:
            qtbot.waitUntil(lambda: controller.is_idle(), timeout=120_000)
        except qtbot.TimeoutError:  # (say what was still busy: one run in ten here waited over 120 s, unexplained)
            gate = controller.gate
            pytest.fail(f"the controller was not idle 120 s after the last action ({state['what']}): worker idle "
                        f"{controller.worker.wait_idle(0)}, frame in flight {gate.in_flight}, held at the gate "
                        f"{gate.held is not None}, followers busy {sorted(controller.followers.busy)}")
    out, err = capfd.readouterr()
    if log is not None:
        log.close()
    print(f"\nmonkey: seed {SEED}, {SECONDS:.0f} s, {figures.actions} actions {figures.by_kind}, "
          f"{figures.dialogs} dialogs answered, longest GUI gap {figures.longest_gap_s:.2f} s, "
          f"stalls over {STALL_S:.0f} s: {figures.stalls}")
    assert not [str(w.message) for w in caught], "Python warnings during the run"
    from cnnviz.qt.app import OFFSCREEN_NOISE

    noise = [line for line in err.splitlines() if line.strip() and not line.startswith(OFFSCREEN_NOISE)]
    assert not noise, f"stderr carried: {noise[:5]}"
    assert not figures.stalls, f"the GUI thread stalled: {figures.stalls}"
    assert figures.actions > 100
