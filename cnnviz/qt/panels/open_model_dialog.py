"""The Open model form: what cnnviz needs to know about a user's network file, in one place.

It asks only what a file cannot say for itself (which network in a Python file, its weights, the
input shape, class names, normalisation, how to prepare an image), pre-filled with what it can
guess without running anything (the names a .py file defines, read by parsing it; the input shape
an ONNX graph states, read on the worker once the form is open) and with the answers last given for
that file. Empty fields mean "what the model says, or cnnviz's guess".
Whether the file's code may run is asked afterwards, once per file, when loading needs it.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from cnnviz.core.errors import CnnvizError
from cnnviz.core.models.options import ModelOptions
from cnnviz.core.models.user_code import network_names
from cnnviz.core.models.user_specs import PREPROCESS_KINDS

AUTO = "from the model (or guessed)"


def _numbers(text: str, what: str, count: int | None = None, kind: type = float) -> tuple | None:
    text = text.strip()
    if not text:
        return None
    try:
        values = tuple(kind(v) for v in text.replace(" ", "").split(","))
    except ValueError:
        raise ValueError(f"{what} is numbers separated by commas, not '{text}'.") from None
    if count is not None and len(values) != count:
        raise ValueError(f"{what} has {count} numbers (C,H,W), not {len(values)}.")
    return values


class OpenModelDialog(QDialog):
    """The form for ``path``; ``result_ref`` and ``result_options`` hold the answers once accepted."""

    def __init__(self, path: str, remembered: dict[str, object] | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.path = path
        self.setWindowTitle(f"Open {Path(path).name}")
        self.setMinimumWidth(520)  # (the hints are sentences: narrower, they were cut off)
        self.result_ref = path
        self.result_options = ModelOptions()
        known = ModelOptions.from_json(remembered or {})
        is_code = path.endswith(".py")
        form = QFormLayout()
        self.network = QComboBox()
        self.network.setEditable(True)
        self.network.setToolTip("The class (built with no arguments) or function (returning the network) to use.")
        self.weights_edit, weights_row = self._file_field("Weights",
                                                          "Weights (*.pt *.pth *.safetensors *.ckpt);;All (*)")
        self.code_edit, code_row = self._file_field("Code", "Python (*.py);;All (*)")
        if is_code:
            try:
                self.network.addItems(network_names(path))
            except CnnvizError as exc:
                self.network.setToolTip(str(exc))
            remembered_name = str((remembered or {}).get("network", ""))
            if remembered_name:
                self.network.setCurrentText(remembered_name)
            form.addRow("Network in the file", self.network)
            form.addRow("Weights (state_dict)", weights_row)
            self.weights_edit.setText(known.weights or "")
        else:
            form.addRow("Code of its classes", code_row)
            self.code_edit.setText(known.code or "")
            self.code_edit.setPlaceholderText("only for a whole pickled model whose class is not importable")
        self.shape = QLineEdit(",".join(map(str, known.input_shape)) if known.input_shape else "")
        self.shape.setPlaceholderText("C,H,W  " + AUTO)
        self.labels_edit, labels_row = self._file_field("Class names", "Text (*.txt);;All (*)")
        self.labels_edit.setText(known.labels or "")
        self.labels_edit.setPlaceholderText("a text file, one class name a line")
        self.mean = QLineEdit(",".join(map(str, known.mean)) if known.mean else "")
        self.mean.setPlaceholderText(AUTO)
        self.std = QLineEdit(",".join(map(str, known.std)) if known.std else "")
        self.std.setPlaceholderText(AUTO)
        self.prepare = QComboBox()
        self.prepare.addItem(AUTO, None)
        for kind in PREPROCESS_KINDS:
            self.prepare.addItem(kind, kind)
        if known.preprocess in PREPROCESS_KINDS:
            self.prepare.setCurrentIndex(self.prepare.findData(known.preprocess))
        self.prepare.setToolTip("digit: MNIST-style (ink found, centred, 28x28); imagenet: resize and crop; "
                                "resize: squash to the input size; fashion: Fashion-MNIST-style.")
        form.addRow("Input shape", self.shape)
        form.addRow("Class names", labels_row)
        form.addRow("Mean", self.mean)
        form.addRow("Std", self.std)
        form.addRow("Prepare images", self.prepare)
        self.problem = QLabel("")
        self.problem.setStyleSheet("color: #b00020")
        self.problem.setWordWrap(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Open | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.problem)
        layout.addWidget(buttons)

    def show_stated_shape(self, shape: tuple[int, int, int] | None) -> None:
        """The input shape the file states (read on the worker, after the form opened): the empty field's hint."""
        if shape is not None:
            self.shape.setPlaceholderText(f"{','.join(map(str, shape))} (C,H,W, from the model)")

    def _file_field(self, what: str, pattern: str) -> tuple[QLineEdit, QWidget]:
        """A line edit with a Browse button: the edit, and the row that holds both."""
        row = QWidget()
        line = QHBoxLayout(row)
        line.setContentsMargins(0, 0, 0, 0)
        edit = QLineEdit()
        browse = QPushButton("Browse...")
        browse.clicked.connect(lambda: self._browse(edit, what, pattern))
        line.addWidget(edit)
        line.addWidget(browse)
        return edit, row

    def _browse(self, edit: QLineEdit, what: str, pattern: str) -> None:
        path, _ = QFileDialog.getOpenFileName(self, what, str(Path(self.path).parent), pattern)
        if path:
            edit.setText(path)

    def answers(self) -> tuple[str, ModelOptions]:
        """The model reference and options the form says; ValueError with a sentence when a field is wrong."""
        ref = self.path
        weights = code = None
        if self.path.endswith(".py"):
            name = self.network.currentText().strip()
            if not name.isidentifier():
                raise ValueError("Name the class or function in the file that makes the network.")
            ref = f"{self.path}:{name}"
            weights = self.weights_edit.text().strip() or None
        else:
            code = self.code_edit.text().strip() or None
        shape = _numbers(self.shape.text(), "The input shape", 3, int)
        if shape is not None and not all(0 < v <= 4096 for v in shape):
            raise ValueError("The input shape's numbers are sizes from 1 to 4096.")
        options = ModelOptions(weights=weights, code=code, input_shape=shape,  # type: ignore[arg-type]
                               labels=self.labels_edit.text().strip() or None,
                               mean=_numbers(self.mean.text(), "The mean"), std=_numbers(self.std.text(), "The std"),
                               preprocess=self.prepare.currentData())
        return ref, options

    def accept(self) -> None:
        try:
            self.result_ref, self.result_options = self.answers()
        except ValueError as exc:
            self.problem.setText(str(exc))
            return
        super().accept()

    def remembered(self) -> dict[str, object]:
        """What to remember for this file (the answers, and the network's name in a .py file)."""
        data: dict[str, object] = dict(self.result_options.to_json())
        if self.path.endswith(".py"):
            data["network"] = self.result_ref.rpartition(":")[2]
        return data
