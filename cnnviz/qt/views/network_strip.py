"""The whole pipeline at a glance: input -> every stage as a card (name, shape, thumbnail).

Cards are grouped by block (``layer1.0`` ...) and scroll horizontally, so ResNet-50's 170+
stages fit. Cards are built once per model; each update only swaps the thumbnails of the cards
on screen (the others get theirs when scrolled into view).
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QScrollArea, QSizePolicy, QVBoxLayout, QWidget

from cnnviz.core.engine.frame import StageInfo
from cnnviz.qt.images import to_pixmap

THUMB = 40
KIND_COLOURS = {"conv": "#d6604d", "relu": "#4393c3", "pool": "#1a9850", "norm": "#9970ab", "linear": "#e08214",
                "add": "#762a83", "softmax": "#b2182b", "concat": "#762a83"}


class StageCard(QFrame):
    clicked = Signal(str)

    def __init__(self, info: StageInfo, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.name = info.name
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        colour = KIND_COLOURS.get(info.kind, "#666666")
        shape = "x".join(map(str, info.shape))
        self.setToolTip(f"{info.name}: {info.kind}, output {shape}, {info.params:,} parameters. "
                        "Click to show its maps.")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(3, 2, 3, 2)
        layout.setSpacing(1)
        title = QLabel(info.name.rpartition(".")[2] or info.name)
        title.setStyleSheet(f"color:{colour};font-weight:bold;")
        self.thumb = QLabel()
        self.thumb.setFixedSize(THUMB, THUMB)
        self.thumb.setAlignment(Qt.AlignmentFlag.AlignCenter)
        size = QLabel(shape)
        size.setStyleSheet("color:#555;font-size:9px;")
        for widget in (title, self.thumb, size):
            layout.addWidget(widget, 0, Qt.AlignmentFlag.AlignHCenter)
        self.set_selected(False)

    def set_selected(self, selected: bool) -> None:
        self.setStyleSheet("StageCard{border:2px solid #2166ac;background:#e8f0fa;}" if selected
                           else "StageCard{border:1px solid #ccc;background:white;}")

    def set_thumbnail(self, image: np.ndarray | None) -> None:
        if image is None:
            self.thumb.clear()
            return
        pixmap = to_pixmap(image)
        self.thumb.setPixmap(pixmap.scaled(THUMB, THUMB, Qt.AspectRatioMode.KeepAspectRatio))

    def mousePressEvent(self, event: QMouseEvent) -> None:
        self.clicked.emit(self.name)


class NetworkStrip(QScrollArea):
    stage_selected = Signal(str)
    scrolled = Signal()  # other cards came into view: they need thumbnails

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWidgetResizable(True)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setFixedHeight(118)
        self.setToolTip("The network at a glance: every stage in the order it runs. Click a card to select it.")
        self.cards: dict[str, StageCard] = {}
        self._names: list[str] = []
        self._selected = ""
        self.input_card = QLabel()
        self._rebuild([])
        self.horizontalScrollBar().valueChanged.connect(lambda _v: self.scrolled.emit())

    def visible_names(self) -> frozenset[str] | None:
        """The stages whose card is (partly) on screen; None when all of them may be (no cards yet, or the
        strip is hidden). ResNet-18 has 70 cards and a wide window shows about 25: the others need no pixels."""
        if not self.cards or not self.isVisible():
            return None
        body = self.widget()
        left = self.horizontalScrollBar().value()
        right = left + self.viewport().width()
        names = []
        for name, card in self.cards.items():  # x within the scrolled body: the card's and its group's offsets
            x, parent = card.x(), card.parentWidget()
            while parent is not None and parent is not body:
                x, parent = x + parent.x(), parent.parentWidget()
            if x < right and x + card.width() > left:
                names.append(name)
        return frozenset(names) or None

    def _rebuild(self, stages: list[StageInfo]) -> None:
        body = QWidget()
        row = QHBoxLayout(body)
        row.setContentsMargins(4, 2, 4, 2)
        row.setSpacing(4)
        self.input_card = QLabel()
        self.input_card.setFixedSize(THUMB + 8, THUMB + 8)
        self.input_card.setToolTip("The input the model receives.")
        row.addWidget(self.input_card)
        self.cards = {}
        group_box: QFrame | None = None
        group_name = None
        for info in stages:
            if info.group != group_name:
                group_name = info.group
                group_box = QFrame()
                group_layout = QVBoxLayout(group_box)
                group_layout.setContentsMargins(2, 0, 2, 0)
                group_layout.setSpacing(0)
                label = QLabel(info.group or "")
                label.setStyleSheet("color:#333;font-size:9px;")
                group_layout.addWidget(label)
                cards_row = QHBoxLayout()
                cards_row.setSpacing(2)
                group_layout.addLayout(cards_row)
                if info.group:
                    group_box.setStyleSheet("QFrame{background:#f3f3f3;border-radius:4px;}")
                row.addWidget(group_box)
            card = StageCard(info)
            card.clicked.connect(self.stage_selected)
            cards_row.addWidget(card)
            self.cards[info.name] = card
        row.addStretch(1)
        body.setSizePolicy(QSizePolicy.Policy.Minimum, QSizePolicy.Policy.Fixed)
        self.setWidget(body)
        self._names = [s.name for s in stages]

    def set_presenter(self, on: bool) -> None:
        self.setFixedHeight(170 if on else 118)  # the card labels follow the larger font

    @property
    def names(self) -> list[str]:
        return list(self._names)

    def update_stages(self, stages: tuple[StageInfo, ...], thumbnails: dict[str, np.ndarray], selected: str,
                      model_input: np.ndarray | None = None) -> None:
        if [s.name for s in stages] != self._names:
            self._rebuild(list(stages))
            self._selected = ""
        for name, card in self.cards.items():
            if name in thumbnails:
                card.set_thumbnail(thumbnails[name])
        if model_input is not None:
            self.input_card.setPixmap(to_pixmap(model_input).scaled(THUMB + 8, THUMB + 8,
                                                                     Qt.AspectRatioMode.KeepAspectRatio))
        self.select(selected)

    def select(self, selected: str) -> None:
        """Highlight the selected stage's card; called with every result, so the highlight moves with
        the maps and does not wait for the thumbnails."""
        if selected != self._selected:
            if self._selected in self.cards:
                self.cards[self._selected].set_selected(False)
            if selected in self.cards:
                self.cards[selected].set_selected(True)
                self.ensureWidgetVisible(self.cards[selected], 60, 0)
            self._selected = selected
