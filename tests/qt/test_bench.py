"""`cnnviz bench` runs the real window headless and reports; it is a measurement, so no times are asserted."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from cnnviz.core.bench_stats import format_table, summarise


def test_summarise_and_table():
    stats = summarise("x", [0.002, 0.004, 0.010], inputs=5, dropped=2, seconds=1.0, forward_ms=1.0, device="cpu")
    assert stats.updates == 3 and stats.updates_per_s == 3.0 and stats.p50_ms == pytest.approx(4.0)
    assert stats.max_ms == pytest.approx(10.0) and stats.ratio == pytest.approx(4.0)
    assert "x" in format_table([stats], 1.5) and "startup: 1.50 s" in format_table([stats], 1.5)
    empty = summarise("y", [], inputs=0, dropped=0, seconds=1.0, forward_ms=1.0, device="cpu")
    assert empty.updates == 0


def test_bench_json_has_every_key(tmp_path):
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "XDG_CONFIG_HOME": str(tmp_path)}
    result = subprocess.run([sys.executable, "-m", "cnnviz", "bench", "--scenario", "draw-lenet", "--scenario",
                             "kernel-lab", "--seconds", "1", "--device", "cpu", "--json"], capture_output=True,
                            text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    for name in ("draw-lenet", "kernel-lab"):
        entry = report[name]
        assert {"updates_per_s", "p50_ms", "p95_ms", "max_ms", "forward_ms"} <= set(entry)
        assert entry["updates"] > 0 and entry["inputs"] >= entry["updates"]
    assert not (tmp_path / "cnnviz").exists()  # the bench leaves the user's settings alone
    assert "propagateSizeHints" not in result.stderr  # the offscreen platform's noise is not the user's


def test_bench_soak_reports_resident_memory(tmp_path):
    """The soak drives drawing, stages, views, input tabs and model switches, and reports resident memory
    after its warm-up and at the end (a measurement: no figure is asserted but that there were updates)."""
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "XDG_CONFIG_HOME": str(tmp_path)}
    result = subprocess.run([sys.executable, "-m", "cnnviz", "bench", "--scenario", "soak", "--seconds", "5",
                             "--device", "cpu", "--json"], capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert set(report) == {"soak"}  # (the latency scenarios run only when asked for, or by default)
    soak = report["soak"]
    assert {"rss_start_mb", "rss_warm_mb", "rss_end_mb", "rss_peak_mb", "updates", "model_switches",
            "seconds"} <= set(soak)
    assert soak["updates"] > 0
    assert 0 < soak["rss_start_mb"] <= soak["rss_peak_mb"]
    assert soak["rss_warm_mb"] <= soak["rss_peak_mb"] and soak["rss_end_mb"] <= soak["rss_peak_mb"]
    assert not (tmp_path / "cnnviz").exists()  # the bench leaves the user's settings alone


def test_soak_line_reads_as_a_sentence():
    from cnnviz.core.bench_stats import SoakStats

    stats = SoakStats(60.0, 690.0, 700.0, 702.5, 720.0, 1500, 14, "cpu")
    assert stats.to_json()["rss_end_mb"] == 702.5 and stats.to_json()["updates"] == 1500
    assert "+2.5 MB since warm" in stats.line() and "1500 updates" in stats.line() and "peak 720.0" in stats.line()


def test_quiet_offscreen_drops_only_the_offscreen_noise(qapp, qtlog):
    from PySide6.QtCore import qWarning

    from cnnviz.qt import app as app_module

    app_module.quiet_offscreen(again=True)  # (over the handler qtlog installed for this test)
    qWarning(app_module.OFFSCREEN_NOISE)
    qWarning("a real warning")
    messages = [record.message for record in qtlog.records]
    assert "a real warning" in messages and app_module.OFFSCREEN_NOISE not in messages


def test_latency_is_read_after_the_views_have_painted(qapp, monkeypatch):
    """The kernel lab's pictures are plain widgets, painted when the window's low-priority update request
    comes round, which can be after a zero timer: a paint made slow on purpose must show in every latency."""
    from cnnviz.qt import bench
    from cnnviz.qt.widgets.readout import Readout

    slow = 0.04
    paint = Readout.paintEvent

    def slow_paint(self, event):  # noqa: ANN001, ANN202
        if self is self.window().panels["kernel lab"].info:  # the lab's timing line changes with every result
            import time

            end = time.perf_counter() + slow
            while time.perf_counter() < end:  # a paint busy for `slow` seconds (holding the GIL, as a real one does)
                pass
        paint(self, event)

    monkeypatch.setattr(Readout, "paintEvent", slow_paint)
    stats = bench.run_scenario("kernel-lab", "cpu", 1.0)
    assert stats.updates > 0
    assert stats.p50_ms >= slow * 1000  # (a lower bound the slow paint makes certain, not a speed claim)
