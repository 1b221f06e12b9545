"""The kernel lab panel: a bank of hand-made kernels, conv -> ReLU -> pool on the current input,
and "into the network": one filter of a trained model replaced by the edited kernel.

The panel edits the bank and the options and tells the controller (which keeps them in its state);
the worker computes the pipeline and applies edits; the panel draws the results it is given.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from cnnviz.core.engine.frame import FrameResult
from cnnviz.core.errors import KernelError
from cnnviz.core.lab.kernel_edit import TRANSFORMS, random_kernel, resize_kernel
from cnnviz.core.lab.kernel_lab import LabResult
from cnnviz.core.lab.kernels import EDGE4_BANK, MAX_BANK, PRESETS, Kernel, load_bank, preset, save_bank
from cnnviz.core.lab.surgery import FilterEdit
from cnnviz.qt.controller import Controller
from cnnviz.qt.images import to_pixmap
from cnnviz.qt.state import LabOptions, ViewState
from cnnviz.qt.widgets.kernel_grid import KernelGrid
from cnnviz.qt.widgets.readout import CENTRE, Readout


class KernelLabPanel(QWidget):
    changed = Signal()  # the bank or an option changed: recompute the pipeline
    edit_requested = Signal(object)  # FilterEdit, or None to reset to the trained weights

    def __init__(self, controller: Controller, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.bank: list[Kernel] = list(controller.state.lab.bank)
        self.current = 0
        self.conv_stages: dict[str, str] = {}  # stage name -> module path
        self.last_result: LabResult | None = None
        splitter = QSplitter()
        splitter.addWidget(self._build_editor())
        splitter.addWidget(self._build_pipeline())
        splitter.setSizes([380, 900])
        splitter.setStretchFactor(1, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(splitter)
        self._refresh_list()
        self.changed.connect(lambda: controller.set_lab(self.options()))
        self.edit_requested.connect(controller.edit_filter)
        controller.lab_ready.connect(self.show_result)
        controller.frame_ready.connect(self._frame)
        controller.state_changed.connect(self._state_changed)
        self._controller = controller

    def options(self) -> LabOptions:
        return LabOptions(tuple(self.bank), self.padding.currentText(), self.stride.value(), self.pool.value(),
                          self.pool_kind.currentText())

    def _state_changed(self, state: ViewState, old: ViewState) -> None:
        """A session (or anything but this panel) set other lab options: show them. Shown again after
        another view: catch up with the model's conv stages and the edit's changes."""
        if state.view == "lab" and old.view != "lab" and self._controller.last_frame is not None:
            self._frame(self._controller.last_frame)
        if state.lab is old.lab or state.lab == self.options():
            return
        lab = state.lab
        for widget, show in ((self.padding, lambda: self.padding.setCurrentText(lab.padding)),
                             (self.pool_kind, lambda: self.pool_kind.setCurrentText(lab.pool_kind)),
                             (self.stride, lambda: self.stride.setValue(lab.stride)),
                             (self.pool, lambda: self.pool.setValue(lab.pool))):
            widget.blockSignals(True)  # (showing the state is not an edit)
            show()
            widget.blockSignals(False)
        if tuple(self.bank) != lab.bank:
            self.set_bank(list(lab.bank))

    def _frame(self, result: FrameResult) -> None:
        """The lab's picture of the network: refreshed while the lab is on screen, not behind other views."""
        if self._controller.state.view != "lab":
            return
        self.set_conv_stages({s.name: s.target for s in result.stages if s.kind == "conv"})
        self.show_changes(result.changes, result.baseline_top, result.top, self._controller.edited)

    # ---- editor -------------------------------------------------------------------------
    def _build_editor(self) -> QWidget:
        self.list = QListWidget()
        self.list.setMaximumHeight(110)
        self.list.currentRowChanged.connect(self._select)
        self.list.setToolTip("The bank: every kernel runs on the input. Select one to edit it.")
        add, remove = QPushButton("Add"), QPushButton("Remove")
        add.clicked.connect(self.add_kernel)
        remove.clicked.connect(self.remove_kernel)
        self.grid = KernelGrid()
        self.grid.changed.connect(self._grid_changed)
        self.grid.invalid.connect(self._show_invalid)
        self.rows, self.cols = QSpinBox(), QSpinBox()
        for box in (self.rows, self.cols):
            box.setRange(1, 9)
            box.valueChanged.connect(self._resize)
        self.step = QComboBox()
        self.step.addItems(["1", "0.5", "0.1"])
        self.step.currentTextChanged.connect(lambda t: setattr(self.grid, "step", float(t)))
        self.step.setCurrentText("1")
        self.grid.step = 1.0  # the combo starts on "1" without emitting a change
        self.step.setToolTip("How much one click raises or lowers a weight.")
        self.presets = QComboBox()
        self.presets.addItems(list(PRESETS))
        self.presets.setToolTip("Classic kernels: Sobel, Scharr, Prewitt, Laplacian, blur, sharpen, emboss...")
        use_preset = QPushButton("Use preset")
        use_preset.clicked.connect(lambda: self.set_current(preset(self.presets.currentText())))
        edges = QPushButton("The four edge filters")
        edges.setToolTip("Load the classic bank: four 4x4 filters of -1 and 1 (vertical, horizontal, both signs).")
        edges.clicked.connect(self.load_edge_bank)
        transforms = QGridLayout()
        for i, name in enumerate([*TRANSFORMS, "random"]):
            button = QPushButton(name)
            button.clicked.connect(lambda _c=False, n=name: self.transform(n))
            transforms.addWidget(button, i // 4, i % 4)
        save, load = QPushButton("Save bank..."), QPushButton("Load bank...")
        save.clicked.connect(self._save_dialog)
        load.clicked.connect(self._load_dialog)
        self.message = QLabel("")
        self.message.setWordWrap(True)
        self.message.setStyleSheet("color:#b2182b;")
        box = QWidget()
        layout = QVBoxLayout(box)
        row = QHBoxLayout()
        row.addWidget(add)
        row.addWidget(remove)
        layout.addWidget(self.list)
        layout.addLayout(row)
        size = QHBoxLayout()
        for widget in (QLabel("size"), self.rows, QLabel("x"), self.cols, QLabel("  step"), self.step):
            size.addWidget(widget)
        layout.addLayout(size)
        layout.addWidget(self.grid, 1)
        layout.addWidget(self.message)
        presets = QHBoxLayout()
        presets.addWidget(self.presets, 1)
        presets.addWidget(use_preset)
        layout.addLayout(presets)
        layout.addWidget(edges)
        layout.addLayout(transforms)
        files = QHBoxLayout()
        files.addWidget(save)
        files.addWidget(load)
        layout.addLayout(files)
        layout.addWidget(self._build_surgery())
        return box

    def _build_surgery(self) -> QGroupBox:
        group = QGroupBox("Into the network")
        group.setToolTip("Replace one filter of the current model with the selected kernel and watch what changes.")
        self.stage_box = QComboBox()
        self.filter_box = QSpinBox()
        self.filter_box.setRange(0, 4095)
        self.channel_box = QSpinBox()
        self.channel_box.setRange(-1, 4095)
        self.channel_box.setSpecialValueText("every input channel")
        self.channel_box.setValue(-1)
        apply_button, reset_button = QPushButton("Put kernel into filter"), QPushButton("Reset to trained")
        apply_button.clicked.connect(self.apply_to_network)
        reset_button.clicked.connect(lambda: self.edit_requested.emit(None))
        self.diff = QLabel("")
        self.diff.setWordWrap(True)
        self.diff.setTextFormat(Qt.TextFormat.RichText)
        form = QFormLayout(group)
        form.addRow("conv stage", self.stage_box)
        form.addRow("filter", self.filter_box)
        form.addRow("input channel", self.channel_box)
        buttons = QHBoxLayout()
        buttons.addWidget(apply_button)
        buttons.addWidget(reset_button)
        form.addRow(buttons)
        form.addRow(self.diff)
        return group

    # ---- pipeline -----------------------------------------------------------------------
    def _build_pipeline(self) -> QWidget:
        self.padding = QComboBox()
        self.padding.addItems(["same", "valid"])
        self.stride = QSpinBox()
        self.stride.setRange(1, 8)
        self.pool = QSpinBox()
        self.pool.setRange(1, 8)
        self.pool.setValue(2)
        self.pool_kind = QComboBox()
        self.pool_kind.addItems(["max", "avg"])
        for widget in (self.padding, self.pool_kind):
            widget.currentTextChanged.connect(lambda _t: self.changed.emit())
        for widget in (self.stride, self.pool):
            widget.valueChanged.connect(lambda _v: self.changed.emit())
        options = QHBoxLayout()
        for widget in (QLabel("padding"), self.padding, QLabel("stride"), self.stride, QLabel("pool"), self.pool,
                       self.pool_kind):
            options.addWidget(widget)
        options.addStretch(1)
        self.info = Readout("")
        self.rows_box = QWidget()
        self.rows_layout = QGridLayout(self.rows_box)
        for col, title in enumerate(["kernel", "conv (blue -, red +)", "ReLU", "pool"]):
            label = QLabel(f"<b>{title}</b>")
            label.setAlignment(Qt.AlignmentFlag.AlignCenter)
            self.rows_layout.addWidget(label, 0, col)
        self.cells: list[list[QLabel | Readout]] = []  # per row: picture, caption, picture, caption...
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.rows_box)
        box = QWidget()
        layout = QVBoxLayout(box)
        layout.addLayout(options)
        layout.addWidget(self.info)
        layout.addWidget(scroll, 1)
        return box

    def show_result(self, result: LabResult) -> None:
        self.last_result = result
        while len(self.cells) < len(result.rows):
            row = []
            for col in range(4):
                label = QLabel()
                label.setAlignment(Qt.AlignmentFlag.AlignCenter)
                self.rows_layout.addWidget(label, len(self.cells) * 2 + 1, col)
                caption = Readout(align=CENTRE)
                self.rows_layout.addWidget(caption, len(self.cells) * 2 + 2, col)
                row += [label, caption]
            self.cells.append(row)
        for cells, lab_row in zip(self.cells, result.rows, strict=False):
            pictures = [lab_row.kernel, lab_row.conv, lab_row.relu, lab_row.pool]
            (ch, cw), (ph, pw) = lab_row.shapes
            low, high = lab_row.conv_range
            captions = [lab_row.name, f"{cw}x{ch}, {low:.2f} .. {high:.2f}", f"{cw}x{ch}, 0 .. {max(high, 0):.2f}",
                        f"{pw}x{ph}"]
            for col in range(4):
                label = cells[2 * col]
                cells[2 * col + 1].setText(captions[col])
                if label.property("picture") is pictures[col]:
                    continue  # a row the worker kept from its cache: an edit repaints one row, not the bank
                label.setProperty("picture", pictures[col])
                pixmap = to_pixmap(pictures[col])  # already display-sized by the worker
                if col == 0:
                    pixmap = pixmap.scaled(96, 96, Qt.AspectRatioMode.KeepAspectRatio)
                if label.minimumSize() != pixmap.size():  # fixed: a new picture of the same size re-lays nothing out
                    label.setFixedSize(pixmap.size())
                label.setPixmap(pixmap)
        for cells in self.cells[len(result.rows):]:
            for label in cells:
                label.clear()
                label.setProperty("picture", None)
            for label in cells[::2]:
                label.setFixedSize(0, 0)  # (an empty row takes no room)
        h, w = result.grey.shape
        self.info.setText(f"{len(result.rows)} kernel(s) on the {w}x{h} grey input, {result.ms:.1f} ms")

    # ---- bank operations ------------------------------------------------------------------
    def _refresh_list(self) -> None:
        self.list.blockSignals(True)
        self.list.clear()
        for kernel in self.bank:
            h, w = kernel.weights.shape
            self.list.addItem(f"{kernel.name} ({h}x{w})")
        self.list.setCurrentRow(self.current)
        self.list.blockSignals(False)
        self._select(self.current)

    def _select(self, index: int) -> None:
        if 0 <= index < len(self.bank):
            self.current = index
            kernel = self.bank[index].weights
            for box, value in ((self.rows, kernel.shape[0]), (self.cols, kernel.shape[1])):
                box.blockSignals(True)
                box.setValue(value)
                box.blockSignals(False)
            self.grid.set_kernel(kernel)

    def current_kernel(self) -> Kernel:
        return self.bank[self.current]

    def set_current(self, kernel: Kernel) -> None:
        self.bank[self.current] = kernel
        self._show_invalid("")
        self._refresh_list()
        self.changed.emit()

    def _grid_changed(self, weights: np.ndarray) -> None:
        self.bank[self.current] = Kernel(self.bank[self.current].name, weights)
        self.changed.emit()

    def _show_invalid(self, reason: str) -> None:
        self.message.setText(f"Refused: {reason}. The last valid kernel stays in use." if reason else "")

    def _resize(self, _value: int = 0) -> None:
        kernel = self.current_kernel()
        self.set_current(Kernel(kernel.name, resize_kernel(kernel.weights, self.rows.value(), self.cols.value())))

    def transform(self, name: str) -> None:
        kernel = self.current_kernel()
        try:
            if name == "random":
                weights = random_kernel(*kernel.weights.shape)
            else:
                weights = TRANSFORMS[name](kernel.weights)
        except KernelError as exc:
            self._show_invalid(str(exc))
            return
        self.set_current(Kernel(kernel.name, weights))

    def add_kernel(self) -> None:
        if len(self.bank) >= MAX_BANK:
            self._show_invalid(f"a bank holds at most {MAX_BANK} kernels")
            return
        self.bank.append(preset("identity"))
        self.current = len(self.bank) - 1
        self._refresh_list()
        self.changed.emit()

    def remove_kernel(self) -> None:
        if len(self.bank) <= 1:
            self._show_invalid("the bank needs at least one kernel")
            return
        del self.bank[self.current]
        self.current = min(self.current, len(self.bank) - 1)
        self._refresh_list()
        self.changed.emit()

    def load_edge_bank(self) -> None:
        self.set_bank([preset(name) for name in EDGE4_BANK])

    def set_bank(self, kernels: list[Kernel]) -> None:
        self.bank = list(kernels)
        self.current = 0
        self._show_invalid("")
        self._refresh_list()
        self.changed.emit()

    def _save_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save kernel bank", "kernels.json", "Kernel banks (*.json)")
        if path:
            try:
                save_bank(Path(path), self.bank)
            except OSError as exc:
                self._show_invalid(f"could not save {Path(path).name} ({exc.strerror}); the old file is unchanged")

    def _load_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Load kernel bank", "", "Kernel banks (*.json)")
        if path:
            try:
                self.set_bank(load_bank(path))
            except KernelError as exc:
                self._show_invalid(str(exc))

    # ---- into the network -------------------------------------------------------------------
    def set_conv_stages(self, stages: dict[str, str]) -> None:
        """Conv stages of the current model (stage name -> module path)."""
        if stages == self.conv_stages:
            return
        self.conv_stages = stages
        current = self.stage_box.currentText()
        self.stage_box.clear()
        self.stage_box.addItems(list(stages))
        if current in stages:
            self.stage_box.setCurrentText(current)

    def apply_to_network(self) -> None:
        stage = self.stage_box.currentText()
        if stage not in self.conv_stages:
            self._show_invalid("the current model has no conv stage to edit")
            return
        channel = self.channel_box.value()
        self.edit_requested.emit(FilterEdit(stage, self.conv_stages[stage], self.filter_box.value(),
                                            self.current_kernel().weights.copy(), None if channel < 0 else channel))

    def show_changes(self, changes: tuple, before: tuple, after: tuple, edited: bool) -> None:
        if not edited:
            self.diff.setText("<i>The model has its trained weights.</i>")
            return
        moved = [c for c in changes if c.mean_abs_change > 0]
        rows = "".join(f"<tr><td>{c.name}</td><td align='right'>{c.mean_abs_change:.4f}</td>"
                       f"<td align='right'>{c.relative * 100:.0f} %</td></tr>" for c in moved[:12])
        prediction = ""
        if before and after:
            prediction = (f"prediction: <b>{before[0][0]}</b> {before[0][1] * 100:.1f} % (trained) &rarr; "
                          f"<b>{after[0][0]}</b> {after[0][1] * 100:.1f} % (edited)<br>")
        self.diff.setText(f"{prediction}<table><tr><th>stage</th><th>mean |change|</th><th>relative</th></tr>"
                          f"{rows}</table>")
