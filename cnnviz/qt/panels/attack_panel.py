"""The Attack view's panel: FGSM or PGD on the current input (untargeted, or towards a class), an epsilon
slider in the input's pixel units, the adversarial input, the perturbation amplified, and the
probabilities before and after; "Use as input" makes the adversarial tensor itself the input of every view.

The attack runs on the worker (a PGD on LeNet-5 is a few tens of milliseconds, on a ResNet seconds, with
progress), when the view is shown, when a setting changes and when the input does.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSlider,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from cnnviz.core.engine.frame import FrameResult
from cnnviz.core.models.zoo import ModelSpec
from cnnviz.core.teach.adversarial import DEFAULT_STEPS, AttackResult
from cnnviz.qt.controller import Controller
from cnnviz.qt.images import to_pixmap
from cnnviz.qt.state import ViewState
from cnnviz.qt.views.softmax_bars import SoftmaxBars
from cnnviz.qt.widgets.readout import Readout
from cnnviz.qt.worker import Loaded

CAPTION = ("Adversarial inputs: every pixel is nudged by at most \u03b5 (in pixel units: 0 is black, 1 white) in "
           "the direction that hurts the network most, found from its own gradient (FGSM: one step; PGD: many "
           "small ones). The change is hard to see, but the prediction flips. The middle picture is the change "
           "amplified 1/\u03b5 times (red: lighter, blue: darker). \"Use as input\" sends the adversarial input to "
           "every view: watch in which stage the network changes its mind.")
PICTURE = 190  # px: each of the three pictures
PRESENTER = 1.3  # their size in presenter mode (at 1.6 they overlapped their titles in an 863 px high window)


def _top(probabilities: tuple[float, ...], result: AttackResult, k: int = 5) -> list[tuple[str, float]]:
    order = np.argsort(np.asarray(probabilities))[::-1][:k]
    return [(result.name(int(i)), float(probabilities[int(i)])) for i in order]


class AttackPanel(QWidget):
    progressed = Signal(float, str)  # emitted on the worker during a PGD; shown on the GUI thread

    def __init__(self, controller: Controller, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.caption = QLabel(CAPTION)
        self.caption.setWordWrap(True)
        self.method = QComboBox()
        self.method.addItem("FGSM (one step)", "fgsm")
        self.method.addItem("PGD (many steps)", "pgd")
        self.method.setCurrentIndex(1)
        self.eps = QSlider(Qt.Orientation.Horizontal)
        self.eps.setRange(0, 50)  # hundredths of the pixel range
        self.eps.setValue(10)
        self.eps.setToolTip("\u03b5: the most any pixel may change, in pixel units (1 = black to white)")
        self.eps_label = Readout("")
        self.steps = QSpinBox()
        self.steps.setRange(1, 200)
        self.steps.setValue(DEFAULT_STEPS)
        self.steps.setPrefix("steps ")
        self.target = QComboBox()
        self.target.addItem("any other class", None)
        self.target.setToolTip("Untargeted (away from the prediction), or towards the class chosen")
        self.use_button = QPushButton("Use as input")
        self.use_button.setToolTip("The adversarial input becomes the input of every view")
        self.use_button.setEnabled(False)
        self.progress = QProgressBar()
        self.progress.setRange(0, 100)
        self.progress.setMaximumWidth(160)
        self.progress.hide()
        self.eps.setMinimumWidth(110)
        self._row, self._second_row = QHBoxLayout(), QHBoxLayout()
        for widget in (self.method, QLabel("\u03b5"), self.eps, self.eps_label):
            self._row.addWidget(widget)
        self._moving = (self.steps, QLabel("towards"), self.target, self.use_button, self.progress)
        for widget in self._moving:
            self._row.addWidget(widget)
        self._second_row.addStretch(1)
        self.side = PICTURE  # px: the pictures' side (larger in presenter mode)
        self.pictures = [QLabel() for _ in range(3)]
        self.titles = [QLabel(t) for t in ("the input", "the change, amplified", "the adversarial input")]
        self.before = SoftmaxBars()
        self.after = SoftmaxBars()
        self.before_title, self.after_title = QLabel("before"), QLabel("after")
        grid = QGridLayout()
        for column, (title, picture) in enumerate(zip(self.titles, self.pictures, strict=True)):
            picture.setFixedSize(PICTURE, PICTURE)
            picture.setAlignment(Qt.AlignmentFlag.AlignCenter)
            picture.setStyleSheet("background:#f3f4f6;")
            grid.addWidget(title, 0, column)
            grid.addWidget(picture, 1, column)
        grid.addWidget(self.before_title, 2, 0)
        grid.addWidget(self.after_title, 2, 2)
        grid.addWidget(self.before, 3, 0)
        grid.addWidget(self.after, 3, 2)
        self.verdict = QLabel("")
        self.verdict.setWordWrap(True)
        grid.addWidget(self.verdict, 3, 1)
        for bars in (self.before, self.after):
            bars.setMinimumHeight(150)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.caption)
        layout.addLayout(self._row)
        layout.addLayout(self._second_row)
        layout.addLayout(grid)
        layout.addStretch(1)
        self.result: AttackResult | None = None
        self.attacks_asked = 0  # attack jobs sent (tests count work asked for)
        if controller.state.presenter:
            self.set_presenter(True)
        self._generation = 0
        self.progressed.connect(self._progressed)
        self.eps.valueChanged.connect(self._eps_changed)
        self.eps.sliderReleased.connect(self.request)
        self.eps.setTracking(True)
        self.method.activated.connect(lambda _i: self._settings_changed())
        self.steps.editingFinished.connect(self.request)
        self.target.activated.connect(lambda _i: self.request())
        self.use_button.clicked.connect(self.use_as_input)
        controller.model_loaded.connect(self._model_loaded)
        controller.state_changed.connect(self._state_changed)
        controller.details_ready.connect(self._details)
        self._eps_changed()
        self._settings_changed(ask=False)

    @property
    def shown(self) -> bool:
        return self.controller.state.view == "attack"

    @property
    def ready(self) -> bool:
        """An attack on the current input is shown (``--screenshot`` waits for it)."""
        return self.result is not None

    @property
    def epsilon(self) -> float:
        return self.eps.value() / 100.0

    def _eps_changed(self) -> None:
        self.eps_label.setText(f"{self.epsilon:.2f} ({round(self.epsilon * 255)} of 255 levels)")
        if not self.eps.isSliderDown():
            self.request()  # (keys and clicks on the groove; a drag asks once, on release)

    def _settings_changed(self, ask: bool = True) -> None:
        self.steps.setEnabled(self.method.currentData() == "pgd")
        if ask:
            self.request()

    # ---- the attack, on the worker ----------------------------------------------------------
    def request(self) -> None:
        """Attack the current input with the settings on screen (only while the view is shown)."""
        rgb = self.controller.current_input()
        if not self.shown or rgb is None or self.controller.spec is None:
            return
        tensor = self.controller.current_tensor()
        method, eps, steps = str(self.method.currentData()), self.epsilon, self.steps.value()
        target = self.target.currentData()
        self._generation += 1
        generation = self._generation
        self.attacks_asked += 1
        self.progress.setValue(0)
        self.progress.show()
        report = self.progressed.emit  # (a signal: emitted on the worker, delivered on the GUI thread)

        def work(loaded: Loaded) -> tuple[int, AttackResult | None]:  # runs on the worker
            from cnnviz.core.engine.preprocess import prepare
            from cnnviz.core.models.zoo import spec_of
            from cnnviz.core.teach.adversarial import attack

            if loaded.model is None:
                return generation, None
            x = tensor if tensor is not None else prepare(rgb, spec_of(loaded.model)).tensor
            result = attack(loaded.model, x, method, eps, steps if method == "pgd" else None, target,
                            progress=report, cancelled=lambda: self._generation != generation)
            return generation, result

        self.controller.run_job("attack", work, self._arrived, self._failed)  # type: ignore[arg-type]

    def _progressed(self, fraction: float, _message: str) -> None:
        self.progress.setValue(round(100 * fraction))

    def _arrived(self, answer: object) -> None:
        generation, result = answer  # type: ignore[misc]
        if generation != self._generation:
            return
        self.progress.hide()
        if result is None:
            return
        self.show_result(result)

    def _failed(self, _message: str) -> None:  # (the controller showed the sentence)
        self.progress.hide()

    def show_result(self, result: AttackResult) -> None:
        from cnnviz.core.teach.adversarial import adversarial_picture, clean_picture, perturbation_picture

        self.result = result
        for label, picture in zip(self.pictures, (clean_picture(result), perturbation_picture(result),
                                                  adversarial_picture(result)), strict=True):
            label.setPixmap(to_pixmap(picture).scaled(self.side, self.side, Qt.AspectRatioMode.KeepAspectRatio,
                                                      Qt.TransformationMode.FastTransformation))
        self.before.set_top(_top(result.before, result))
        self.after.set_top(_top(result.after, result))
        before, after = result.name(result.class_before), result.name(result.class_after)
        self.before_title.setText(f"before: {before} {100 * result.prob_before:.1f} %")
        self.after_title.setText(f"after: {after} {100 * result.prob_after:.1f} %")
        how = f"{result.method.upper()}, \u03b5 = {result.eps:.2f}" + (f", {result.steps} steps"
                                                                       if result.method == "pgd" else "")
        if result.target is not None:
            goal = f"towards {result.name(result.target)}: " + ("reached" if result.reached else "not reached")
        else:
            goal = "the prediction flipped" if result.flipped else "the prediction held"
        self.verdict.setText(f"{how}\n{before} \u2192 {after}\n{goal}; the largest change of a pixel "
                             f"is {result.linf:.3f}")
        self.use_button.setEnabled(True)

    # ---- to the controller --------------------------------------------------------------------
    def use_as_input(self) -> None:
        from cnnviz.core.teach.adversarial import adversarial_picture

        result = self.result
        if result is None:
            return
        self.controller.use_model_input(adversarial_picture(result), result.adversarial,
                                        f"the adversarial input ({result.method.upper()}, \u03b5 = {result.eps:.2f}, "
                                        f"{result.name(result.class_after)}) is the input of every view.")

    # ---- from the controller ------------------------------------------------------------------
    def _model_loaded(self, spec: ModelSpec, _description: str) -> None:
        self._generation += 1
        self.result = None
        self.use_button.setEnabled(False)
        self.target.clear()
        self.target.addItem("any other class", None)
        for index, name in enumerate(spec.class_names):
            self.target.addItem(name, index)
        for label in self.pictures:
            label.clear()

    def _state_changed(self, state: ViewState, old: ViewState) -> None:
        if state.view == "attack" and old.view != "attack":
            self.request()
        if state.presenter != old.presenter:
            self.set_presenter(state.presenter)

    def set_presenter(self, on: bool) -> None:
        """On a projector: the pictures 1.3x larger, and the controls in two rows (in one, the larger type
        squeezed the slider and cut the menus' names)."""
        for bars in (self.before, self.after):
            bars.set_presenter(on)
        for widget in self._moving:
            self._row.removeWidget(widget)
            self._second_row.removeWidget(widget)
            if on:
                self._second_row.insertWidget(self._second_row.count() - 1, widget)  # (before its stretch)
            else:
                self._row.addWidget(widget)
        self.side = round(PICTURE * (PRESENTER if on else 1.0))
        for picture in self.pictures:
            picture.setFixedSize(self.side, self.side)
        if self.result is not None:
            self.show_result(self.result)

    def _details(self, _result: FrameResult) -> None:
        """A new input: attack it (not the adversarial input itself, once it is the input)."""
        if self.shown and self.controller.current_tensor() is None:
            self.request()
