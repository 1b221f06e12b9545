"""--screenshot: save the window once what the command line asked for is on screen, then quit."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

if TYPE_CHECKING:
    from cnnviz.qt.app import App

SCREENSHOT_TIMEOUT_MS = 60_000


def arm_screenshot(app: App, args: argparse.Namespace, session: dict[str, bool], status: dict[str, int]) -> None:
    """Wait for the first painted result, then for everything the arguments asked for (an image read in
    full, a session applied, the tour or an explanation shown), save ``args.screenshot`` and quit;
    give up with ``cnnviz: error: ...`` (status 2) when nothing is shown in time."""
    window, controller = app.window, app.controller
    qt_app = QApplication.instance()
    assert qt_app is not None

    def ready() -> bool:
        if args.tab == "dataset" and app.inputs.dataset_panel.data is None:
            return False  # wait for the samples to load
        if window.view_key == "graph" and app.graph is not None and not app.graph.ready:
            return False
        if window.view_key == "convolution" and app.convolution is not None and not app.convolution.ready:
            return False
        if window.view_key == "embedding" and app.embedding is not None and not (
                app.embedding.ready and app.embedding.view.current is not None):
            return False
        if window.view_key == "attack" and app.attack is not None and not app.attack.ready:
            return False
        if window.view_key == "explain" and app.explain.view.last is None:
            return False
        if app.looks_for is not None and app.looks_for.isVisible() and not app.looks_for.ready:
            return False  # the "what it looks for" dock, when it is open, with its channel's study
        if args.tour and not (app.tour.active and controller.last_frame is not None):
            return False
        if args.session and not (session["opened"] or window.banner.isVisible()):
            return False  # the session is applied (or refused with a message) before the picture
        if args.image and not window.banner.isVisible():  # the image (read on the worker) is shown in full
            result = controller.last_frame
            if controller.state.source != "image" or result is None \
                    or result.stamp < controller.input_changed_at or not result.detail:
                return False
        return True

    def grab(_result: object) -> None:
        window.result_painted.disconnect(grab)
        poll()

    def poll() -> None:
        if ready():
            QTimer.singleShot(300, save)
        else:
            QTimer.singleShot(100, poll)

    def save() -> None:
        if window.view_key == "convolution" and app.convolution is not None:
            app.convolution.show_middle()  # (the map half filled in says more than its first corner)
        qt_app.processEvents()
        if not window.grab().save(args.screenshot):
            print(f"cnnviz: error: could not write the screenshot {args.screenshot}", file=sys.stderr)
            status["code"] = 2
        qt_app.quit()

    def give_up(force: bool = True) -> None:
        if controller.last_frame is not None:
            return
        if not force and window.busy.isVisible():  # still loading (perhaps the fallback model): wait
            QTimer.singleShot(500, lambda: give_up(False))
            return
        message = window.banner.text() or "no result was shown in time"
        print(f"cnnviz: error: no screenshot taken: {message}", file=sys.stderr)
        status["code"] = 2
        qt_app.quit()

    window.result_painted.connect(grab)
    window.error_shown.connect(lambda _m: QTimer.singleShot(500, lambda: give_up(False)))  # GUI thread
    QTimer.singleShot(SCREENSHOT_TIMEOUT_MS, give_up)
