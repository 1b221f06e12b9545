"""The kernel lab in both directions: edits -> set_lab with the LabOptions they make, and filter edits ->
edit_filter, at the controller (a fake one); the state (a session's) and the lab's results -> the widgets.
Then the real pipeline through the real controller."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("PySide6")

from PySide6.QtCore import Qt  # noqa: E402

from cnnviz.core.lab.kernels import EDGE4_BANK, preset  # noqa: E402
from cnnviz.qt.state import LabOptions  # noqa: E402

WAIT = 60_000


@pytest.fixture
def lab(qtbot, fake):
    from cnnviz.qt.panels.kernel_lab import KernelLabPanel

    panel = KernelLabPanel(fake)
    qtbot.addWidget(panel)
    panel.resize(1200, 800)
    panel.show()
    return panel


def last_options(fake) -> LabOptions:  # noqa: ANN001
    (options,) = fake.called("set_lab")[-1]
    assert isinstance(options, LabOptions)
    return options


def test_the_panel_starts_on_the_states_bank(lab, fake):
    assert [k.name for k in lab.bank] == list(EDGE4_BANK) and lab.list.count() == 4
    assert lab.options() == fake.state.lab and fake.calls == []
    assert np.array_equal(lab.grid.kernel, lab.bank[0].weights) and lab.rows.value() == 4


def test_edits_reach_the_controller_as_lab_options(lab, fake, qtbot):
    assert lab.grid.set_cell_text(0, 0, "5")
    options = last_options(fake)
    assert options.bank[0].weights[0, 0] == 5 and options.bank[1:] == fake.state.lab.bank[1:]
    lab.padding.setCurrentText("valid")
    lab.stride.setValue(2)
    lab.pool.setValue(3)
    lab.pool_kind.setCurrentText("avg")
    options = last_options(fake)
    assert (options.padding, options.stride, options.pool, options.pool_kind) == ("valid", 2, 3, "avg")
    # a click on a cell raises it by one step (edge4-v starts with -1 there)
    qtbot.mouseClick(lab.grid, Qt.MouseButton.LeftButton, pos=lab.grid.cell_rect(1, 1).center())
    assert last_options(fake).bank[0].weights[1, 1] == 0
    calls = len(fake.called("set_lab"))
    assert not lab.grid.set_cell_text(2, 2, "NaN")  # refused at the cell: the kernel stays, nothing is asked
    assert "NaN" in lab.message.text() and len(fake.called("set_lab")) == calls
    assert lab.grid.error is not None and lab.grid.error[:2] == (2, 2)
    lab.add_kernel()
    assert [k.name for k in last_options(fake).bank][-1] == "identity" and lab.list.count() == 5
    lab.transform("random")
    assert last_options(fake).bank[-1].weights.shape == (3, 3)


def test_a_bank_of_one_cannot_lose_its_kernel(lab, fake):
    lab.set_bank([preset("box-blur-3")])
    calls = len(fake.called("set_lab"))
    lab.remove_kernel()
    assert len(lab.bank) == 1 and "at least one kernel" in lab.message.text()
    assert len(fake.called("set_lab")) == calls


def test_a_sessions_lab_options_show_in_the_widgets(lab, fake):
    options = LabOptions((preset("sobel-x"), preset("box-blur-3")), "valid", 2, 3, "avg")
    fake.change(lab=options)
    assert (lab.padding.currentText(), lab.stride.value(), lab.pool.value(), lab.pool_kind.currentText()) == \
        ("valid", 2, 3, "avg")
    assert lab.options() == options and [lab.list.item(i).text() for i in range(lab.list.count())] == \
        ["sobel-x (3x3)", "box-blur-3 (3x3)"]
    assert np.array_equal(lab.grid.kernel, preset("sobel-x").weights)
    assert all(args == (options,) for args in fake.called("set_lab"))  # (nothing other than the state's own)


def test_results_draw_one_row_per_kernel(lab, fake):
    from cnnviz.core.data.strokes import demo_digit, render
    from cnnviz.core.lab.kernel_lab import LabRequest, run_lab

    result = run_lab(LabRequest(render(demo_digit(7)), fake.state.lab.bank))
    fake.lab_ready.emit(result)
    assert lab.last_result is result and len(lab.cells) == 4
    first = lab.cells[0]
    assert first[1].text() == "edge4-v" and first[3].text().endswith(f"{result.rows[0].conv_range[1]:.2f}")
    assert all(not cell.pixmap().isNull() for cell in first[0::2])
    h, w = result.grey.shape
    assert lab.info.text().startswith(f"4 kernel(s) on the {w}x{h} grey input")
    fake.lab_ready.emit(run_lab(LabRequest(render(demo_digit(7)), (preset("box-blur-3"),))))
    assert lab.cells[1][0].pixmap().isNull() and lab.cells[1][1].text() == ""  # (rows past the bank are emptied)


def test_a_kernel_goes_into_a_filter_of_the_model(lab, fake, frame_of):
    from cnnviz.core.lab.surgery import FilterEdit

    fake.show(frame_of(7))
    assert lab.stage_box.count() == 0  # behind another view the lab's picture of the network waits
    fake.change(view="lab")  # shown: it catches up with the last frame
    assert [lab.stage_box.itemText(i) for i in range(lab.stage_box.count())] == ["conv1", "conv2"]
    assert "trained weights" in lab.diff.text()
    lab.set_current(preset("sobel-x"))
    lab.stage_box.setCurrentText("conv2")
    lab.filter_box.setValue(3)
    lab.channel_box.setValue(1)
    lab.apply_to_network()
    (edit,) = fake.called("edit_filter")[-1]
    assert isinstance(edit, FilterEdit) and (edit.stage, edit.filter_index, edit.channel) == ("conv2", 3, 1)
    assert edit.module_path == frame_of(7).info("conv2").target and np.array_equal(edit.kernel,
                                                                                     preset("sobel-x").weights)
    lab.edit_requested.emit(None)  # Reset to trained
    assert fake.called("edit_filter")[-1] == (None,)


# ---- the real pipeline ----------------------------------------------------------------------------------
def test_kernel_lab_cell_edit_changes_the_pipeline(live, qtbot):
    from cnnviz.core.data.strokes import demo_digit, render
    from cnnviz.qt.panels.kernel_lab import KernelLabPanel

    controller, (lab,) = live(KernelLabPanel)
    controller.set_input("draw", render(demo_digit(7)))
    with qtbot.waitSignal(controller.lab_ready, timeout=WAIT):
        controller.set_view("lab")  # the lab recomputes only while it is on screen
    before = lab.last_result.conv[0].copy()
    with qtbot.waitSignal(controller.lab_ready, timeout=WAIT):
        assert lab.grid.set_cell_text(0, 0, "5")
    assert lab.bank[0].weights[0, 0] == 5 and controller.state.lab.bank[0].weights[0, 0] == 5
    assert not np.array_equal(before, lab.last_result.conv[0])
    rect = lab.grid.cell_rect(1, 1)
    with qtbot.waitSignal(controller.lab_ready, timeout=WAIT):
        qtbot.mouseClick(lab.grid, Qt.MouseButton.LeftButton, pos=rect.center())
    assert lab.bank[0].weights[1, 1] == -1 + 1  # edge4-v starts with -1 there
    kept = lab.bank[0].weights.copy()
    assert not lab.grid.set_cell_text(2, 2, "NaN")
    assert "NaN" in lab.message.text() and np.array_equal(lab.bank[0].weights, kept)
    assert lab.grid.error is not None and lab.grid.error[:2] == (2, 2)
