"""The Embedding view both ways, against a fake controller and the real LeNet-5 with the shipped digits:
the map made only while shown, coloured and marked from the real map, the star where the core places the
input, a click on a dot making that sample the input, t-SNE with progress; and in the whole app."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("PySide6")

from PySide6.QtCore import Qt  # noqa: E402

WAIT = 60_000


@pytest.fixture
def digits():
    from cnnviz.core.data.datasets import load_samples

    return load_samples("mnist")


@pytest.fixture
def panel(qtbot, fake, digits):
    from cnnviz.core.data.strokes import demo_digit, render
    from cnnviz.qt.panels.embedding_panel import EmbeddingPanel

    fake.inputs["draw"] = render(demo_digit(7))
    made = EmbeddingPanel(fake)
    qtbot.addWidget(made)
    made.resize(1000, 700)
    made.show()
    qtbot.waitExposed(made)
    fake.dataset_loaded.emit(digits)
    return made


def _run(fake, lenet, kind: str) -> int:  # noqa: ANN001
    from cnnviz.qt.worker import Loaded

    jobs = [a for a in fake.called("run_job") if a[0] == kind]
    fake.calls = [c for c in fake.calls if not (c[0] == "run_job" and c[1][0] == kind)]
    for args in jobs:
        args[2](args[1](Loaded(lenet, None)))
    return len(jobs)


def test_the_map_is_made_only_while_shown_and_the_star_is_the_input(panel, fake, lenet, digits):
    from cnnviz.core.engine.preprocess import prepare
    from cnnviz.core.models.zoo import spec_of
    from cnnviz.core.teach.embedding import embedding_map, place_input

    assert _run(fake, lenet, "embedding") == 0  # the network view is on screen
    fake.change(view="embedding")
    assert _run(fake, lenet, "embedding") == 1 and panel.ready
    expected = embedding_map(lenet, digits, None, "pca")
    emb = panel.view.map
    assert len(emb.points) == len(digits) == 200 and emb.stage == "relu4"
    assert np.allclose(emb.points, expected.points)
    assert "PCA of stage relu4, 200 samples" in panel.title.text()
    symbols = panel.view.scatter.data["symbol"]
    assert list(symbols == "x") == list(expected.misclassified)  # crosses are the samples it gets wrong
    assert _run(fake, lenet, "embedding-place") == 1
    star = place_input(lenet, expected, prepare(fake.inputs["draw"], spec_of(lenet)).tensor)
    assert panel.view.current.point == pytest.approx(star.point)
    assert tuple(panel.view.star.data["x"]) == pytest.approx((star.point[0],))
    from cnnviz.core.data.strokes import demo_digit, render

    fake.inputs["draw"] = render(demo_digit(1))  # the user draws: the star moves
    fake.frame_ready.emit(None)
    assert _run(fake, lenet, "embedding-place") == 1
    assert panel.view.current.point != pytest.approx(star.point)


def test_a_click_on_a_dot_makes_its_sample_the_input(panel, fake, lenet, digits, qtbot):
    fake.change(view="embedding")
    _run(fake, lenet, "embedding")
    emb = panel.view.map
    pixels = np.array([[panel.view.position_of(r).x(), panel.view.position_of(r).y()] for r in range(len(emb.points))])
    gaps = np.sort(np.linalg.norm(pixels[:, None] - pixels[None], axis=2), axis=1)[:, 1]
    row = int(np.argmax(gaps))  # the dot farthest from any other: a click there hits it alone
    qtbot.mouseClick(panel.view.viewport(), Qt.MouseButton.LeftButton, pos=panel.view.position_of(row))
    assert fake.called("choose_sample") == [(int(emb.indices[row]),)]  # (the Dataset tab shows it, as the input)
    panel.view.hovered.emit(row)  # (what hovering the dot emits)
    label = digits.class_names[int(digits.labels[int(emb.indices[row])])]
    assert panel.about.text().startswith(f"sample #{int(emb.indices[row])}: {label}")
    assert not panel.preview.pixmap().isNull()


def test_tsne_reports_progress_separates_better_and_places_by_neighbours(panel, fake, lenet):
    from cnnviz.core.teach.embedding import one_nn_accuracy

    fake.change(view="embedding")
    _run(fake, lenet, "embedding")
    pca = panel.view.map
    seen = []
    panel.progressed.connect(lambda fraction, _m: seen.append(fraction))
    panel.method.setCurrentIndex(1)
    panel.method.activated.emit(1)
    _run(fake, lenet, "embedding")
    tsne = panel.view.map
    assert tsne.method == "tsne" and seen and max(seen) == pytest.approx(1.0)
    assert one_nn_accuracy(tsne.points, tsne.labels) > one_nn_accuracy(pca.points, pca.labels)
    _run(fake, lenet, "embedding-place")
    assert panel.view.current.how == "neighbours" and len(panel.view.ring.data) == 5
    assert "nearest samples" in panel.placed.text()


def test_a_map_for_the_last_model_is_dropped(panel, fake, lenet):
    from cnnviz.qt.worker import Loaded

    fake.change(view="embedding")
    fake.model_loaded.emit(None, "")  # before the first map came back: it is dropped, another is asked for
    jobs = [a for a in fake.called("run_job") if a[0] == "embedding"]
    assert len(jobs) == 2
    jobs[0][2](jobs[0][1](Loaded(lenet, None)))
    assert panel.map is None and not panel.ready
    jobs[1][2](jobs[1][1](Loaded(lenet, None)))
    assert panel.ready


def test_in_the_app_the_star_follows_the_drawing(app, qtbot):
    panel = app.embedding
    app.inputs.draw_demo(0)
    app.window.show_view("embedding")
    qtbot.waitUntil(lambda: panel.ready and panel.view.current is not None, timeout=WAIT)
    first = panel.view.current.point
    app.inputs.draw_demo(6)
    qtbot.waitUntil(lambda: panel.view.current is not None and panel.view.current.point != first, timeout=WAIT)


def test_in_the_app_a_clicked_sample_is_the_input_and_the_dataset_tabs_sample(app, qtbot):
    """The Embedding view's click goes through the Dataset tab: its preview, position and true label show the
    sample that became the input, even one its misclassified filter hid."""
    from cnnviz.core.data.imageio import to_rgb_uint8

    app.window.show_view("embedding")
    qtbot.waitUntil(lambda: app.embedding.ready, timeout=WAIT)
    tab = app.inputs.dataset_panel
    data = tab.data
    index = len(data) - 3
    tab.order = np.array([0, 1])  # (as if the filter showed only two other samples)
    tab.misclassified.blockSignals(True)
    tab.misclassified.setChecked(True)
    tab.misclassified.blockSignals(False)
    app.controller.choose_sample(index)
    assert app.controller.state.source == "dataset" and not tab.misclassified.isChecked()
    image, label = tab.current()
    assert np.array_equal(image, data.images[index]) and label == int(data.labels[index])
    assert f"(#{index} of {len(data)})" in tab.position.text()
    assert np.array_equal(app.controller.current_input(), to_rgb_uint8(data.images[index]))


def test_presenter_mode_enlarges_the_dots_the_star_and_the_text(panel, fake, lenet):
    """On a projector the map's own items grow (the app's larger font does not reach pyqtgraph's), and go back."""
    fake.change(view="embedding")
    _run(fake, lenet, "embedding")
    view = panel.view
    dots = sorted(set(float(s) for s in view.scatter.data["size"]))
    star, ticks = view.star.opts["size"], view.plotItem.getAxis("bottom").style["tickFont"].pointSizeF()
    placed = view.current
    fake.change(presenter=True)
    assert sorted(set(float(s) for s in view.scatter.data["size"])) == pytest.approx([d * 1.6 for d in dots])
    assert view.star.opts["size"] == pytest.approx(star * 1.6) and len(view.scatter.data) == len(view.map.points)
    assert view.plotItem.getAxis("bottom").style["tickFont"].pointSizeF() == pytest.approx(ticks * 1.6)
    assert view.current is placed  # (the star stays where it was)
    fake.change(presenter=False)
    assert sorted(set(float(s) for s in view.scatter.data["size"])) == pytest.approx(dots)
    assert view.star.opts["size"] == pytest.approx(star)
