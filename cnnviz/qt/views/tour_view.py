"""The guided tour bar: one stage at a time, with a caption for a learner, next / previous keys.

The steps come from cnnviz.core.teach.tour (computed on the worker from the loaded model); this
bar only shows them and asks the window to select each step's stage.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from cnnviz.core.teach.tour import TourStep
from cnnviz.qt.images import bold_font


class TourBar(QFrame):
    step_shown = Signal(object)  # TourStep
    closed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setStyleSheet("TourBar{background:#fff8e1;border:1px solid #e0c070;border-radius:4px;}")
        self.title = QLabel("")
        self.title.setFont(bold_font())
        self.caption = QLabel("")
        self.caption.setWordWrap(True)
        self.caption.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.counter = QLabel("")
        self.previous_button = QPushButton("< Previous")
        self.previous_button.setToolTip("Previous stage (Page Up or ,)")
        self.previous_button.clicked.connect(self.previous)
        self.next_button = QPushButton("Next >")
        self.next_button.setToolTip("Next stage (Page Down or .; a presentation clicker sends these)")
        self.next_button.clicked.connect(self.next)
        close = QPushButton("End tour")
        close.clicked.connect(self.stop)
        buttons = QHBoxLayout()
        buttons.addWidget(self.title, 1)
        buttons.addWidget(self.counter)
        buttons.addWidget(self.previous_button)
        buttons.addWidget(self.next_button)
        buttons.addWidget(close)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 4, 8, 6)
        layout.addLayout(buttons)
        layout.addWidget(self.caption)
        self.steps: list[TourStep] = []
        self.index = 0
        self.hide()

    @property
    def active(self) -> bool:
        return self.isVisible() and bool(self.steps)

    @property
    def current(self) -> TourStep | None:
        return self.steps[self.index] if self.steps else None

    def start(self, steps: list[TourStep], index: int = 0) -> None:
        self.steps = list(steps)
        self.show()
        self.go(index)

    def go(self, index: int) -> None:
        if not self.steps:
            return
        self.index = max(0, min(index, len(self.steps) - 1))
        step = self.steps[self.index]
        self.title.setText(f"Tour: {step.title}" + (f" ({step.stage})" if step.stage and step.stage != "input" else ""))
        self.caption.setText(step.caption)
        self.counter.setText(f"{self.index + 1} / {len(self.steps)}")
        self.previous_button.setEnabled(self.index > 0)
        self.next_button.setEnabled(self.index < len(self.steps) - 1)
        self.step_shown.emit(step)

    def next(self) -> None:
        self.go(self.index + 1)

    def previous(self) -> None:
        self.go(self.index - 1)

    def stop(self) -> None:
        self.hide()
        self.closed.emit()
