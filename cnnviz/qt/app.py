"""The composition root: builds the controller, the window, the panels and the classroom parts, and
wires them; then starts the app for the command line (error hooks, --screenshot).

Nothing else creates these objects, so this is the one page that shows what the app is made of.
"""

from __future__ import annotations

import argparse
import faulthandler
import sys
import traceback
from dataclasses import dataclass

from PySide6.QtWidgets import QApplication
from torch import nn

from cnnviz.core.choices import INPUT_SOURCES
from cnnviz.core.models.live import live_name
from cnnviz.core.models.options import ModelOptions
from cnnviz.qt import session_files
from cnnviz.qt.classroom.autosave import Autosave
from cnnviz.qt.classroom.export import Export
from cnnviz.qt.classroom.layout_menu import LayoutMenu
from cnnviz.qt.classroom.presenter import Presenter
from cnnviz.qt.classroom.sessions import Sessions
from cnnviz.qt.classroom.snapshots import Snapshots
from cnnviz.qt.classroom.tour import Tour
from cnnviz.qt.classroom.view_options import ViewOptions
from cnnviz.qt.controller import Controller
from cnnviz.qt.main_window import MainWindow
from cnnviz.qt.panels.attack_panel import AttackPanel
from cnnviz.qt.panels.compare_tab import CompareTab
from cnnviz.qt.panels.convolution_panel import ConvolutionPanel
from cnnviz.qt.panels.embedding_panel import EmbeddingPanel
from cnnviz.qt.panels.explain_tab import ExplainTab
from cnnviz.qt.panels.graph_panel import GraphPanel
from cnnviz.qt.panels.input_panel import InputPanel
from cnnviz.qt.panels.kernel_lab import KernelLabPanel
from cnnviz.qt.panels.looks_for_panel import LooksForPanel, add_dock
from cnnviz.qt.panels.model_bar import ModelBar
from cnnviz.qt.panels.network_panel import NetworkPanel
from cnnviz.qt.panels.train_panel import TrainPanel
from cnnviz.qt.panels.weights_choice import WeightsChoice
from cnnviz.qt.screenshot import arm_screenshot
from cnnviz.qt.settings import Settings
from cnnviz.qt.state import ViewState

#: Qt's offscreen platform says this whenever a window's size limits change, a window is raised or a
#: popup grabs the keyboard: things a platform with no screen cannot do, which mean nothing there.
OFFSCREEN_NOISE = "This plugin does not support "
_quiet = {"installed": False}


@dataclass
class App:
    """Everything the composition root built (tests and the benchmark drive the app through it)."""

    controller: Controller
    window: MainWindow
    inputs: InputPanel
    network: NetworkPanel
    lab: KernelLabPanel
    explain: ExplainTab
    compare: CompareTab
    train: TrainPanel
    presenter: Presenter
    tour: Tour
    snapshots: Snapshots
    export: Export
    # (kept here, as every part is: their menu actions call their methods, and PySide6 keeps no part alive)
    view_options: ViewOptions
    sessions: Sessions
    layout: LayoutMenu  # (every part is kept here: PySide6 does not keep a part alive for its menu actions)
    autosave: Autosave | None
    graph: GraphPanel | None = None  # the views of #20 (kept here like every part)
    convolution: ConvolutionPanel | None = None
    embedding: EmbeddingPanel | None = None
    attack: AttackPanel | None = None
    looks_for: LooksForPanel | None = None  # what the selected channel looks for (#19), in a dock

    def shutdown(self) -> None:
        self.window.shutdown()


def build_app(model: str | None = None, device: str | None = None, untrained: bool = False,
              settings: Settings | None = None, autosave_on: bool = True, options: ModelOptions | None = None,
              trust: bool = False, live: nn.Module | None = None) -> App:
    """The whole app on ``model`` (None: the one the settings remember), its model loading started.
    ``options`` open a user's network (weights, shape, labels, ...), ``trust`` is the command line's
    --trust-file; ``live`` is a network from Python made ready by cnnviz.core.models.live (cnnviz.view).
    ``autosave_on`` False for the benchmark (its saves would be timed with the frames)."""
    settings = settings or Settings()
    remembered = model is None and live is None
    if live is not None:
        model = live_name(live)
    elif model is None:
        model = settings.model
        untrained = untrained or settings.untrained
    state = ViewState(model, device or settings.device, untrained, top_k=settings.top_k,
                      magnitude_map=settings.magnitude_map, model_options=options or ModelOptions())
    controller = Controller(state, settings, remembered=remembered, trusted=frozenset({model} if trust else ()),
                            live=live)
    inputs = InputPanel(controller, settings)
    window = MainWindow(controller, settings, inputs)
    window.addToolBar(ModelBar(controller))
    window.central_layout.insertWidget(1, WeightsChoice(controller))
    network = NetworkPanel(controller)
    lab = KernelLabPanel(controller)
    train = TrainPanel(controller)
    window.closing.connect(train.shutdown)
    window.closing.connect(inputs.camera_panel.stop)
    window.add_view("network", network, "Network")
    graph = GraphPanel(controller)
    window.add_view("graph", graph, "Graph", "The network as a graph of its stages: skips, branches and blocks.")
    convolution = ConvolutionPanel(controller)
    window.add_view("convolution", convolution, "Convolution", "A conv's (or pool's) window sliding over the input, "
                    "step by step, with every multiplication.")
    embedding = EmbeddingPanel(controller)
    window.add_view("embedding", embedding, "Embedding", "The dataset as a map of what the network makes of it; "
                    "your input as a star.")
    attack = AttackPanel(controller)
    window.add_view("attack", attack, "Attack", "Adversarial inputs: a tiny change that flips the prediction.")
    window.add_view("lab", lab, "Kernel lab", "Hand-made kernels: conv -> ReLU -> pool on the input, and into the "
                    "network.")
    explain = ExplainTab(window, controller, network.input_view)
    compare = CompareTab(window, controller)
    window.add_view("train", train, "Train", "Train a network here and watch its curves and first filters.")
    for name, widget in (("feature maps", network.maps), ("input", network.input_view),
                         ("prediction", inputs.softmax), ("network strip", network.strip),
                         ("filters", network.filters), ("kernel lab", lab), ("training", train)):
        window.add_panel(name, widget)
    window.file_actions(inputs.open_image_dialog, window.findChild(ModelBar).open_model_dialog, window.paste)
    sessions = Sessions(window, controller)
    window.finish_menus()
    presenter = Presenter(window, controller, settings.presenter_scale)
    view_options = ViewOptions(window, controller)
    snapshots = Snapshots(window, controller)
    tour = Tour(window, controller, presenter)
    layout = LayoutMenu(window, network, snapshots)
    looks_for = add_dock(window, controller)
    autosave = Autosave(window, controller) if autosave_on else None
    export = Export(window)
    export.build_menu()
    controller.start()
    return App(controller, window, inputs, network, lab, explain, compare, train, presenter, tour, snapshots,
               export, view_options, sessions, layout, autosave, graph=graph,
               convolution=convolution, embedding=embedding, attack=attack, looks_for=looks_for)


def quiet_offscreen(again: bool = False) -> None:
    """Drop the offscreen platform's one meaningless warning (``--screenshot``, ``cnnviz bench``);
    every other Qt message goes where it went before. Installed once; ``again`` installs it over
    whatever message handler came since (a test's)."""
    from PySide6.QtCore import qInstallMessageHandler
    from PySide6.QtGui import QGuiApplication

    if (_quiet["installed"] and not again) or QGuiApplication.platformName() != "offscreen":
        return
    previous = None

    def handler(mode, context, message: str) -> None:  # noqa: ANN001
        if message.startswith(OFFSCREEN_NOISE):
            return
        if previous is not None:
            previous(mode, context, message)
        else:
            sys.stderr.write(message + "\n")

    previous = qInstallMessageHandler(handler)
    _quiet["installed"] = True


def install_error_hook(window: MainWindow) -> None:
    """Exceptions in slots reach the user as a message; the app goes on. Native crashes are dumped."""
    faulthandler.enable()

    def hook(kind, value, tb) -> None:  # noqa: ANN001
        traceback.print_exception(kind, value, tb)
        window.show_error(f"Something went wrong: {value} (details on the console).")

    sys.excepthook = hook


def run_app(args: argparse.Namespace) -> int:
    qt_app = QApplication.instance() or QApplication(sys.argv[:1])
    quiet_offscreen()
    qt_app.setApplicationName("cnnviz")
    qt_app.setOrganizationName("cnnviz")
    qt_app.setDesktopFileName("cnnviz")
    from PySide6.QtGui import QIcon

    from cnnviz.core.assets import assets_dir

    qt_app.setWindowIcon(QIcon(str(assets_dir() / "icons" / "cnnviz-256.png")))
    device = None if args.device == "auto" else args.device
    app = build_app(args.model, device, untrained=args.untrained, options=ModelOptions.of(args),
                    trust=args.trust_file)
    window, controller = app.window, app.controller
    install_error_hook(window)
    if args.screenshot:
        window.resize(1500, 920)  # a fixed size, whatever layout was remembered, so screenshots compare
    if args.stage:
        controller.select_stage(args.stage)
    if args.draw_demo:
        app.inputs.draw_demo(7)
    if args.image:
        controller.open_image(args.image)
    window.show_view(args.view or "network")
    session = {"opened": False}
    controller.session_opened.connect(lambda _s: session.update(opened=True))
    if args.session:
        session_files.open_file(controller, args.session)
    if args.presenter:
        app.presenter.toggle()
    if args.tour:
        app.tour.toggle(args.stage)
    if args.tab:
        app.inputs.tabs.setCurrentIndex(INPUT_SOURCES.index(args.tab))
    window.show()
    status = {"code": 0}
    if args.screenshot:
        arm_screenshot(app, args, session, status)
    qt_app.exec()
    app.shutdown()
    return status["code"]
