"""Starting the app: QApplication, error hooks, the main window, and --screenshot."""

from __future__ import annotations

import argparse
import faulthandler
import sys
import traceback

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

SCREENSHOT_TIMEOUT_MS = 60_000
#: Qt's offscreen platform says this whenever a window's size limits change; it means nothing there.
OFFSCREEN_NOISE = "This plugin does not support propagateSizeHints()"
_quiet = {"installed": False}


def quiet_offscreen() -> None:
    """Drop the offscreen platform's one meaningless warning (``--screenshot``, ``cnnviz bench``);
    every other Qt message goes where it went before."""
    from PySide6.QtCore import qInstallMessageHandler
    from PySide6.QtGui import QGuiApplication

    if _quiet["installed"] or QGuiApplication.platformName() != "offscreen":
        return
    previous = None

    def handler(mode, context, message: str) -> None:  # noqa: ANN001
        if message == OFFSCREEN_NOISE:
            return
        if previous is not None:
            previous(mode, context, message)
        else:
            sys.stderr.write(message + "\n")

    previous = qInstallMessageHandler(handler)
    _quiet["installed"] = True


def install_error_hook(window_getter) -> None:  # noqa: ANN001
    """Exceptions in slots reach the user as a message; the app goes on. Native crashes are dumped."""
    faulthandler.enable()

    def hook(kind, value, tb) -> None:  # noqa: ANN001
        traceback.print_exception(kind, value, tb)
        window = window_getter()
        if window is not None:
            window.show_error(f"Something went wrong: {value} (details on the console).")

    sys.excepthook = hook


def run_app(args: argparse.Namespace) -> int:
    from cnnviz.qt.main_window import MainWindow

    app = QApplication.instance() or QApplication(sys.argv[:1])
    quiet_offscreen()
    app.setApplicationName("cnnviz")
    app.setOrganizationName("cnnviz")
    app.setDesktopFileName("cnnviz")
    from PySide6.QtGui import QIcon

    from cnnviz.core.assets import assets_dir

    app.setWindowIcon(QIcon(str(assets_dir() / "icons" / "cnnviz-256.png")))
    device = None if args.device == "auto" else args.device
    window = MainWindow(args.model, device, untrained=args.untrained)
    install_error_hook(lambda: window)
    if args.screenshot:
        window.resize(1500, 920)  # a fixed size, whatever layout was remembered, so screenshots compare
    if args.stage:
        window.select_stage(args.stage)
    if args.draw_demo:
        window.draw_demo(7)
    if args.image:
        window.open_image(args.image)
    from cnnviz.qt.classroom import VIEW_TABS

    window.views.setCurrentIndex(VIEW_TABS.index(args.view or "network"))
    if args.session:
        window.classroom.open_session(args.session)
    if args.presenter:
        window.classroom.toggle_presenter()
    if args.tour:
        window.classroom.toggle_tour(args.stage)
    if args.tab:
        window.tabs.setCurrentIndex(["draw", "image", "dataset", "camera"].index(args.tab))
    window.show()
    status = {"code": 0}
    if args.screenshot:
        def ready() -> bool:
            wanted = {"draw": "draw", "image": "image", "dataset": "dataset"}.get(args.tab or "", None)
            if wanted == "dataset" and window.dataset_panel.data is None:
                return False  # wait for the samples to load
            classroom = window.classroom
            if window.views.currentWidget() is classroom.explain and classroom.explain.last is None:
                return False
            if args.tour and not (classroom.tour.active and window.last_result is not None):
                return False
            if args.session and not (classroom.session_opened or window.banner.isVisible()):
                return False  # the session is applied (or refused with a message) before the picture
            if args.image and not window.banner.isVisible():  # the image (read on the worker) is shown in full
                result = window.last_result
                if window._source != "image" or result is None or result.stamp < window.input_changed_at \
                        or not result.detail:
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
            app.processEvents()
            if not window.grab().save(args.screenshot):
                print(f"cnnviz: error: could not write the screenshot {args.screenshot}", file=sys.stderr)
                status["code"] = 2
            app.quit()

        def give_up(force: bool = True) -> None:
            if window.last_result is not None:
                return
            if not force and window.busy.isVisible():  # still loading (perhaps the fallback model): wait
                QTimer.singleShot(500, lambda: give_up(False))
                return
            message = window.banner.text() or "no result was shown in time"
            print(f"cnnviz: error: no screenshot taken: {message}", file=sys.stderr)
            status["code"] = 2
            app.quit()

        window.result_painted.connect(grab)
        window.error_shown.connect(lambda _m: QTimer.singleShot(500, lambda: give_up(False)))  # GUI thread
        QTimer.singleShot(SCREENSHOT_TIMEOUT_MS, give_up)
    app.exec()
    window.shutdown()
    return status["code"]
