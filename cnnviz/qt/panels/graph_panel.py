"""The Graph view's panel: the network as the graph of its stages, made on the worker once per model (when
the model loads with the view on screen, or when the view is first shown), the selected stage highlighted,
a click on a box selecting that stage everywhere, thumbnails of the current input on the boxes on screen.
"""

from __future__ import annotations

from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from cnnviz.core.engine.frame import FrameResult
from cnnviz.core.models.zoo import ModelSpec
from cnnviz.core.teach.graph import Graph, Layout, layered_layout, model_graph
from cnnviz.qt.controller import Controller
from cnnviz.qt.state import ViewState
from cnnviz.qt.views.graph_view import GraphView
from cnnviz.qt.worker import Loaded

CAPTION = ("The network as a graph: every stage is a box (its kind, output shape and parameters), every arrow "
           "the tensor one stage hands the next. A residual block's skip is the arrow that jumps past the convs "
           "to an add; an inception block's branches run side by side into a concat. Click a box to look at that "
           "stage everywhere; wheel zooms, drag pans, a block's name folds it shut.")


def graph_of(loaded: Loaded) -> tuple[Graph, Layout] | None:
    """The graph and its layout of the model on the worker (a zero input of its own shape); None before one loaded."""
    from cnnviz.core.models.zoo import spec_of

    if loaded.model is None:
        return None
    graph = model_graph(loaded.model, spec_of(loaded.model).input_shape)
    return graph, layered_layout(graph)


class GraphPanel(QWidget):
    def __init__(self, controller: Controller, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.caption = QLabel(CAPTION)
        self.caption.setWordWrap(True)
        self.view = GraphView()
        self.title = QLabel("The graph is made when this view is shown.")
        fit = QPushButton("Fit")
        fit.setToolTip("The whole graph in the view")
        fit.clicked.connect(self.view.fit)
        actual = QPushButton("1:1")
        actual.setToolTip("Boxes at their own size")
        actual.clicked.connect(self._actual_size)
        bar = QHBoxLayout()
        bar.addWidget(self.title, 1)
        bar.addWidget(fit)
        bar.addWidget(actual)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.caption)
        layout.addLayout(bar)
        layout.addWidget(self.view, 1)
        self.stale = True  # the graph on screen is not (or not yet) the model's
        self.graphs_asked = 0  # graph jobs sent (tests count work asked for)
        self.view.node_clicked.connect(self._clicked)
        controller.model_loaded.connect(self._model_loaded)
        controller.state_changed.connect(self._state_changed)
        controller.details_ready.connect(self._details)

    @property
    def ready(self) -> bool:
        """The graph of the model on the worker is drawn (``--screenshot`` waits for it)."""
        return not self.stale and self.view.graph is not None

    @property
    def shown(self) -> bool:
        return self.controller.state.view == "graph"

    def request(self) -> None:
        """Make the model's graph on the worker."""
        self.stale = False
        self.graphs_asked += 1
        self.title.setText("making the graph...")
        self.controller.run_job("graph", graph_of, self._ready, self._failed)  # type: ignore[arg-type]

    def _ready(self, result: object) -> None:
        if result is None:  # no model on the worker yet: the next model_loaded asks again
            self.stale = True
            return
        graph, layout = result  # type: ignore[misc]
        self.view.set_graph(graph, layout)
        adds = sum(1 for n in graph.nodes if n.kind in ("add", "concat"))
        joins = f", {adds} joins (add / concat)" if adds else ""
        self.title.setText(f"{len(graph.nodes) - 1} stages, {len(graph.edges)} edges{joins}, "
                           f"{len(graph.blocks)} blocks")
        last = self.controller.last_frame
        self.view.select(self.controller.state.stage or (last.selected if last is not None else None), centre=True)
        if last is not None and last.thumbnails:
            self.view.set_thumbnails(last.thumbnails)

    def _failed(self, _message: str) -> None:
        self.stale = True
        self.title.setText("The graph could not be made (the message above says why).")

    # ---- from the controller --------------------------------------------------------------
    def _model_loaded(self, _spec: ModelSpec, _description: str) -> None:
        self.stale = True
        if self.shown:
            self.request()
        else:
            self.title.setText("The graph is made when this view is shown.")

    def _state_changed(self, state: ViewState, old: ViewState) -> None:
        if state.view == "graph" and old.view != "graph" and self.stale:
            self.request()
        if state.stage != old.stage:
            self.view.select(state.stage)
        if state.presenter != old.presenter:
            self.view.set_presenter(state.presenter)

    def _details(self, result: FrameResult) -> None:
        """Thumbnails of the current input on the boxes on screen, while the view is shown."""
        if self.shown and not self.stale:
            self.view.set_thumbnails(result.thumbnails)  # (the highlight follows the state, never an older result)

    # ---- to the controller ----------------------------------------------------------------
    def _clicked(self, name: str) -> None:
        if name == "input":
            self.controller.status.emit("The input is not a stage: click a box below it.")
            return
        self.controller.select_stage(name)

    def _actual_size(self) -> None:
        self.view.resetTransform()
        if self.controller.state.presenter:
            self.view.scale(1.6, 1.6)
        if self.view.selected:
            self.view.centerOn(self.view.boxes[self.view.selected])
