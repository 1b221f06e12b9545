"""Export: any panel as a PNG or to the clipboard, and the window or a panel recorded as GIF / MP4."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtGui import QGuiApplication, QKeySequence
from PySide6.QtWidgets import QFileDialog, QLabel

from cnnviz.core.errors import CnnvizError
from cnnviz.qt.classroom.recorder import WidgetRecorder
from cnnviz.qt.main_window import MainWindow


class Export:
    def __init__(self, window: MainWindow) -> None:
        self.window = window
        self.recorder = WidgetRecorder()
        self.rec_label = QLabel("")
        self.rec_label.setStyleSheet("color:white;background:#c62828;font-weight:bold;padding:1px 6px;"
                                     "border-radius:3px;")
        self.rec_label.hide()
        window.statusBar().addPermanentWidget(self.rec_label)
        self.recorder.ticked.connect(self._tick)
        self.recorder.finished.connect(self._done)
        self.recorder.failed.connect(window.show_error)
        window.closing.connect(self.shutdown)
        self.record_action = None

    def build_menu(self) -> None:
        """Once every part has named its panels."""
        export = self.window.menu("E&xport")
        names = list(self.window.panels)
        for name in names:
            export.addAction(f"Save {name} as PNG...", lambda n=name: self._save_dialog(n))
        export.addSeparator()
        copy = export.addMenu("Copy to clipboard")
        for name in names:
            copy.addAction(name, lambda n=name: self.copy_panel(n))
        export.addSeparator()
        self.record_action = export.addAction("Record window...", QKeySequence("Ctrl+R"), self._toggle)
        record_panel = export.addMenu("Record panel")
        for name in names:
            record_panel.addAction(name, lambda n=name: self._record_dialog(n))

    def save_panel(self, name: str, path: str | Path) -> Path:
        path = Path(path)
        if path.suffix.lower() != ".png":
            path = path.with_name(path.name + ".png")
        if not self.window.panels[name].grab().save(str(path), "PNG"):
            raise CnnvizError(f"Could not write {path}; check the folder exists and is writable.")
        return path

    def _save_dialog(self, name: str) -> None:
        path, _ = QFileDialog.getSaveFileName(self.window, f"Save {name}", f"cnnviz-{name.replace(' ', '-')}.png",
                                              "PNG images (*.png)")
        if path:
            try:
                saved = self.save_panel(name, path)
                self.window.status_label.setText(f"saved {saved}")
            except CnnvizError as exc:
                self.window.show_error(str(exc))

    def copy_panel(self, name: str) -> None:
        QGuiApplication.clipboard().setPixmap(self.window.panels[name].grab())
        self.window.status_label.setText(f"{name} copied to the clipboard.")

    def start_recording(self, name: str, path: str | Path) -> None:
        try:
            self.recorder.start(self.window.panels[name], path)
        except CnnvizError as exc:
            self.window.show_error(str(exc))
            return
        if self.record_action is not None:
            self.record_action.setText("Stop recording")
        self.rec_label.show()

    def stop_recording(self) -> None:
        self.recorder.stop()
        if self.record_action is not None:
            self.record_action.setText("Record window...")
        self.rec_label.setText("saving...")

    def _toggle(self) -> None:
        if self.recorder.active:
            self.stop_recording()
        else:
            self._record_dialog("window")

    def _record_dialog(self, name: str) -> None:
        if self.recorder.active:
            self.stop_recording()
            return
        path, _ = QFileDialog.getSaveFileName(self.window, f"Record {name}", f"cnnviz-{name.replace(' ', '-')}.gif",
                                              "Animated GIF (*.gif);;MP4 video (*.mp4)")
        if path:
            if Path(path).suffix.lower() not in (".gif", ".mp4"):
                path += ".gif"
            self.start_recording(name, path)

    def _tick(self, seconds: float) -> None:
        self.rec_label.setText(f"\u25cf REC {int(seconds) // 60}:{int(seconds) % 60:02d}")
        self.window.setWindowTitle("\u25cf REC - cnnviz")

    def _done(self, path: str, frames: int) -> None:
        self.rec_label.hide()
        self.window.setWindowTitle("cnnviz")
        self.window.status_label.setText(f"recorded {frames} frames to {path}")

    def shutdown(self) -> None:
        if self.recorder.active:
            self.recorder.stop()
