"""The network view: the strip of stages on top, the selected stage's maps in the middle, and beside
them the input with the hovered pixel's receptive field, the arithmetic behind it, the channel through
its block and the filters. It draws results; it computes nothing heavier than one pixel's arithmetic.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QSplitter, QVBoxLayout, QWidget

from cnnviz.core.engine.frame import FrameResult
from cnnviz.qt.controller import Controller
from cnnviz.qt.images import bold_font
from cnnviz.qt.state import ViewState
from cnnviz.qt.views.arithmetic_view import ArithmeticView
from cnnviz.qt.views.chain_view import ChainView
from cnnviz.qt.views.feature_maps import FeatureMapView
from cnnviz.qt.views.filters_view import FiltersView
from cnnviz.qt.views.input_view import InputView
from cnnviz.qt.views.network_strip import NetworkStrip
from cnnviz.qt.widgets.readout import Readout


class NetworkPanel(QWidget):
    def __init__(self, controller: Controller, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.strip = NetworkStrip()
        self.maps_title = Readout("")
        self.maps_title.setFont(bold_font())
        self.maps = FeatureMapView()
        self.input_view = InputView()
        self.arithmetic = ArithmeticView()
        self.chain = ChainView()
        self.filters = FiltersView()
        middle = QWidget()
        middle_layout = QVBoxLayout(middle)
        middle_layout.setContentsMargins(0, 0, 0, 0)
        middle_layout.addWidget(self.maps_title)
        middle_layout.addWidget(self.maps, 1)
        right = QSplitter(Qt.Orientation.Vertical)
        for widget in (self.input_view, self.arithmetic, self.chain, self.filters):
            right.addWidget(widget)
        self.right = right
        body = self.body = QSplitter()
        body.addWidget(middle)
        body.addWidget(right)
        body.setStretchFactor(0, 3)
        body.setStretchFactor(1, 1)
        for splitter in (right, body):
            splitter.setChildrenCollapsible(False)  # a pane dragged to nothing is hard to find again
        self.reset_layout()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.strip)
        layout.addWidget(body, 1)

        # intent, to the controller
        self.strip.stage_selected.connect(controller.select_stage)
        self.strip.scrolled.connect(lambda: controller.refresh(detail=True))
        self.maps.hovered.connect(self._hovered)
        self.maps.left.connect(lambda: self.input_view.show_field(None))
        self.maps.tile_clicked.connect(controller.select_channel)
        self.filters.in_channel_changed.connect(controller.set_in_channel)
        self.input_view.occlusion_changed.connect(lambda box: controller.set_options(occlusion=box))
        controller.set_visible_stages(self.strip.visible_names)
        # results, from the controller
        controller.frame_ready.connect(self.show_frame)
        controller.details_ready.connect(self.show_details)
        controller.state_changed.connect(self._state_changed)

    def _state_changed(self, state: ViewState, old: ViewState) -> None:
        if state.stage != old.stage:
            self.maps.enlarged = None
        if state.presenter != old.presenter:
            self.set_presenter(state.presenter)

    def show_frame(self, result: FrameResult) -> None:
        """The maps, the input and the strip's selection: new with every input."""
        if [s.name for s in result.stages] != self.strip.names:  # never another model's stages
            self.strip.update_stages(result.stages, result.thumbnails, result.selected, result.model_input)
        else:
            self.strip.select(result.selected)
        self.maps.set_mosaic(result.mosaic, result.layout)
        health = result.health
        self.maps.set_health(health.dead if health else (), health.saturated if health else ())
        info = result.info(result.selected)
        shown = f" (first {result.layout.channels} shown)" if result.layout.channels < info.shape[0] else ""
        if health and (health.dead or health.saturated):
            shown += (f" | {len(health.dead)} dead" if health.dead else "") + \
                     (f" | {len(health.saturated)} saturated" if health.saturated else "")
        enlarged = f", channel {self.maps.enlarged} (click to go back)" if self.maps.enlarged is not None else ""
        self.maps_title.setText(f"{result.selected} [{info.kind}] {'x'.join(map(str, info.shape))}{shown}{enlarged}")
        self.input_view.set_image(result.input_rgbx)

    def show_details(self, result: FrameResult) -> None:
        """The strip's thumbnails, the block's chain and the filters: a few times a second."""
        self.strip.update_stages(result.stages, result.thumbnails, result.selected, result.model_input)
        self.chain.set_chain(result.chain, result.channel)
        self.filters.set_filters(result.filters_of, result.filters, result.weight_range)

    def _hovered(self, channel: int, y: int, x: int) -> None:
        result = self.controller.last_frame
        if result is None:
            return
        height, width = result.model_input.shape[:2]
        field = result.fields.get(result.selected)
        self.input_view.show_field(field.rect(y, x, height, width) if field else (0, 0, height - 1, width - 1))
        arithmetic = result.hover.arithmetic(channel, y, x)
        if arithmetic is not None:
            self.arithmetic.show_arithmetic(result.selected, arithmetic)
            return
        value = result.hover.value(channel, y, x)
        if value is not None:
            self.arithmetic.show_value(result.selected, channel, y, x, value)

    def reset_layout(self) -> None:
        """The panes at their first sizes, every pane shown, the maps and the input fitted to their views."""
        self.right.setSizes([220, 200, 150, 250])
        self.body.setSizes([700, 380])
        presenter = self.controller.state.presenter
        for view in (self.arithmetic, self.chain, self.filters):
            view.setVisible(not presenter)
        self.fit_views()

    def fit_views(self) -> None:
        """Zoomed or panned out of sight: back to the whole picture."""
        self.maps.box.autoRange(padding=0.01)
        self.input_view.box.autoRange(padding=0.02)

    def set_presenter(self, on: bool) -> None:
        """Presenter mode: the maps get the room; the text-heavy arithmetic, block and filter views step
        aside (the input with its receptive field stays)."""
        for view in (self.arithmetic, self.chain, self.filters):
            view.setVisible(not on)
        for view in (self.input_view, self.maps, self.strip):
            view.set_presenter(on)

        def share() -> None:
            width = max(1, self.body.width())
            self.body.setSizes([int(width * (0.7 if on else 0.65)), int(width * (0.3 if on else 0.35))])

        QTimer.singleShot(0, share)  # once the new fonts and full-screen size have been laid out
