"""The Embedding view's panel: the dataset on screen (the Dataset tab's) as a 2-D map of one stage's
activations, coloured by class, with the current input as a star that moves as the user draws.

The map is made on the worker while the view is shown (PCA at once; t-SNE and UMAP with progress, and the
core caches every map, so going back to one is instant); a new model or dataset cancels a map being made.
Placing the current input is one forward pass and a projection, done on the worker for each new input.
Hovering a dot shows its sample; clicking it makes that sample the input.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QProgressBar, QVBoxLayout, QWidget

from cnnviz.core.data.datasets import ArrayDataset
from cnnviz.core.engine.frame import FrameResult
from cnnviz.core.models.zoo import ModelSpec
from cnnviz.core.teach.embedding import METHOD_NAMES, METHODS, EmbeddingMap, Placement
from cnnviz.qt.controller import Controller
from cnnviz.qt.images import to_pixmap
from cnnviz.qt.state import ViewState
from cnnviz.qt.views.embedding_view import EmbeddingView
from cnnviz.qt.widgets.readout import Readout
from cnnviz.qt.worker import Loaded

CAPTION = ("The embedding map: each dot is one dataset sample, placed by what the network's last stage "
           "before the classifier makes of it (its activations squeezed into two dimensions), coloured by its "
           "true class; crosses are samples the network gets wrong. Classes the network tells apart form "
           "separate clusters. The gold star is your input: draw, and watch it move between the clusters. "
           "Hover a dot to see its sample, click it to use it as the input.")
#: Samples per map: t-SNE of 2,000 MNIST digits took 11.7 s on the worker (frames wait for it), of 1,000 a
#: few seconds; PCA of 2,000 under a second (2-core dev VM).
MAX_SAMPLES = {"pca": 2000, "tsne": 1000, "umap": 1000}
PLACED = {"exact": "the star is your input, projected exactly (PCA)",
          "neighbours": "the star is placed by its nearest samples in feature space (ringed): t-SNE and UMAP "
                        "cannot place a new point exactly"}


class EmbeddingPanel(QWidget):
    progressed = Signal(float, str)  # emitted on the worker while a map is made; shown on the GUI thread

    def __init__(self, controller: Controller, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.caption = QLabel(CAPTION)
        self.caption.setWordWrap(True)
        self.method = QComboBox()
        for key in METHODS:
            self.method.addItem(METHOD_NAMES[key], key)
        self.method.setToolTip("PCA is instant and exact; t-SNE (and UMAP, if installed) separate clusters better")
        self.progress = QProgressBar()
        self.progress.setRange(0, 100)
        self.progress.setMaximumWidth(220)
        self.progress.hide()
        self.title = Readout("The map is made when this view is shown.")
        bar = QHBoxLayout()
        bar.addWidget(QLabel("projection"))
        bar.addWidget(self.method)
        bar.addWidget(self.progress)
        bar.addWidget(self.title, 1)
        self.view = EmbeddingView()
        self.preview = QLabel()
        self.preview.setFixedSize(140, 140)
        self.preview.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.preview.setStyleSheet("background:#f3f4f6;")
        self.about = QLabel("Hover a dot to see its sample.")
        self.about.setWordWrap(True)
        self.about.setFixedWidth(140)
        self.placed = QLabel("")
        self.placed.setWordWrap(True)
        self.placed.setFixedWidth(140)
        side = QVBoxLayout()
        for widget in (self.preview, self.about, self.placed):
            side.addWidget(widget)
        side.addStretch(1)
        body = QHBoxLayout()
        body.addWidget(self.view, 1)
        body.addLayout(side)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.caption)
        layout.addLayout(bar)
        layout.addLayout(body, 1)
        self.data: ArrayDataset | None = None
        self.map: EmbeddingMap | None = None
        self.stale = True
        self.maps_asked = 0  # map jobs sent (tests count work asked for)
        self.placements_asked = 0
        self._generation = 0  # a new model, dataset or method: a map still being made is cancelled
        self.progressed.connect(self._progressed)
        self.method.activated.connect(lambda _i: self.request())
        self.view.hovered.connect(self._hovered)
        self.view.clicked.connect(self._clicked)
        controller.dataset_loaded.connect(self._dataset)
        controller.model_loaded.connect(self._model_loaded)
        controller.state_changed.connect(self._state_changed)
        controller.frame_ready.connect(self._frame)
        self.view.set_presenter(controller.state.presenter)

    @property
    def shown(self) -> bool:
        return self.controller.state.view == "embedding"

    @property
    def ready(self) -> bool:
        """A map of the current model and dataset is drawn (``--screenshot`` waits for it)."""
        return not self.stale and self.map is not None

    # ---- the map, on the worker -------------------------------------------------------------
    def request(self) -> None:
        data = self.data
        if data is None:
            self.title.setText("Load a dataset on the Dataset tab first.")
            return
        self._generation += 1
        generation = self._generation
        method = str(self.method.currentData())
        self.stale = False
        self.maps_asked += 1
        self.progress.setValue(0)
        self.progress.show()
        count = min(len(data), MAX_SAMPLES[method])
        self.title.setText(f"making the {METHOD_NAMES[method]} map of {count} samples...")
        report = self.progressed.emit  # (a signal: emitted on the worker, delivered on the GUI thread)

        def work(loaded: Loaded) -> tuple[int, EmbeddingMap | None]:  # runs on the worker
            from cnnviz.core.teach.embedding import embedding_map

            if loaded.model is None:
                return generation, None
            emb = embedding_map(loaded.model, data, None, method, max_samples=count, progress=report,
                                cancelled=lambda: self._generation != generation)
            return generation, emb

        self.controller.run_job("embedding", work, self._arrived, self._failed)  # type: ignore[arg-type]

    def _progressed(self, fraction: float, message: str) -> None:
        self.progress.setValue(round(100 * fraction))
        if message:
            self.title.setText(message)

    def _arrived(self, result: object) -> None:
        generation, emb = result  # type: ignore[misc]
        if generation != self._generation:
            return  # a newer map was asked for
        self.progress.hide()
        if emb is None:
            self.stale = True
            return
        from cnnviz.core.teach.embedding import one_nn_accuracy

        self.map = emb
        self.view.set_map(emb)
        wrong = int(emb.misclassified.sum())
        accuracy = one_nn_accuracy(emb.points, emb.labels)
        of = f" of {len(self.data)}" if self.data is not None and len(self.data) > len(emb.points) else ""
        self.title.setText(f"{METHOD_NAMES[emb.method]} of stage {emb.stage}, {len(emb.points)}{of} samples, "
                           f"{wrong} misclassified; a dot's nearest dot is of its class for {100 * accuracy:.0f} %")
        self.placed.setText(PLACED.get(emb.placement, ""))
        self.place()

    def _failed(self, _message: str) -> None:  # (the controller showed the sentence)
        self.progress.hide()
        self.stale = True
        self.title.setText("No map (the message above says why).")

    # ---- the current input, on the worker ----------------------------------------------------
    def place(self) -> None:
        emb, rgb = self.map, self.controller.current_input()
        if emb is None or rgb is None:
            return
        tensor = self.controller.current_tensor()
        self.placements_asked += 1

        def work(loaded: Loaded) -> Placement | None:  # runs on the worker
            from cnnviz.core.engine.preprocess import prepare
            from cnnviz.core.models.zoo import spec_of
            from cnnviz.core.teach.embedding import EmbeddingError, place_input

            if loaded.model is None:
                return None
            x = tensor if tensor is not None else prepare(rgb, spec_of(loaded.model)).tensor
            try:
                return place_input(loaded.model, emb, x)
            except EmbeddingError:  # the map of another model: its own map is on the way
                return None

        self.controller.run_job("embedding-place", work, self._placed)  # type: ignore[arg-type]

    def _placed(self, placement: object) -> None:
        if isinstance(placement, Placement) and self.map is not None:
            self.view.set_current(placement)

    # ---- from the controller -----------------------------------------------------------------
    def _dataset(self, data: ArrayDataset) -> None:
        self.data = data
        self._invalidate()

    def _model_loaded(self, _spec: ModelSpec, _description: str) -> None:
        self._invalidate()

    def _invalidate(self) -> None:
        self._generation += 1  # (cancels a map being made)
        self.stale = True
        self.map = None
        self.view.set_map(None)
        self.progress.hide()
        if self.shown:
            self.request()
        else:
            self.title.setText("The map is made when this view is shown.")

    def _state_changed(self, state: ViewState, old: ViewState) -> None:
        if state.presenter != old.presenter:
            self.view.set_presenter(state.presenter)
        if state.view == "embedding" and old.view != "embedding":
            if self.stale:
                self.request()
            else:
                self.place()

    def _frame(self, _result: FrameResult) -> None:
        if self.shown and self.map is not None:
            self.place()

    # ---- hover and click ---------------------------------------------------------------------
    def sample(self, row: int) -> np.ndarray:
        assert self.map is not None and self.data is not None
        return self.data.images[int(self.map.indices[row])]

    def _hovered(self, row: int) -> None:
        emb = self.map
        if emb is None or self.data is None or row < 0:
            return
        self.preview.setPixmap(to_pixmap(self.sample(row)).scaled(
            136, 136, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.FastTransformation))
        names = emb.class_names
        true = names[int(emb.labels[row])] if int(emb.labels[row]) < len(names) else str(emb.labels[row])
        predicted = int(emb.predicted[row])
        said = f", the network says {names[predicted]}" if 0 <= predicted < len(names) else ""
        self.about.setText(f"sample #{int(emb.indices[row])}: {true}{said}" + (" (wrong)" if emb.misclassified[row]
                                                                             else ""))

    def _clicked(self, row: int) -> None:
        if self.map is not None and self.data is not None:
            self.controller.choose_sample(int(self.map.indices[row]))  # (the Dataset tab moves to it too)
