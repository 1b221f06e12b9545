"""Benchmark arithmetic: latency percentiles and rates, kept apart from the Qt driver."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class ScenarioStats:
    scenario: str
    inputs: int
    updates: int
    dropped: int
    seconds: float
    updates_per_s: float
    p50_ms: float
    p95_ms: float
    max_ms: float
    forward_ms: float
    ratio: float  # end-to-end p50 / bare forward p50
    device: str

    def to_json(self) -> dict:
        return {k: (round(v, 3) if isinstance(v, float) else v) for k, v in asdict(self).items()}


def summarise(scenario: str, latencies_s: Sequence[float], inputs: int, dropped: int, seconds: float,
              forward_ms: float, device: str) -> ScenarioStats:
    ms = np.asarray(latencies_s, np.float64) * 1000.0
    if ms.size == 0:
        return ScenarioStats(scenario, inputs, 0, dropped, seconds, 0.0, float("nan"), float("nan"), float("nan"),
                             forward_ms, float("nan"), device)
    p50 = float(np.percentile(ms, 50))
    return ScenarioStats(scenario, inputs, int(ms.size), dropped, seconds, ms.size / seconds, p50,
                         float(np.percentile(ms, 95)), float(ms.max()), forward_ms,
                         p50 / forward_ms if forward_ms > 0 else float("nan"), device)


def format_table(rows: Sequence[ScenarioStats], startup_s: float | None) -> str:
    lines = [f"{'scenario':<16} {'updates/s':>9} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'forward ms':>10} "
             f"{'ratio':>6} {'inputs':>7} {'dropped':>7}"]
    for r in rows:
        lines.append(f"{r.scenario:<16} {r.updates_per_s:>9.1f} {r.p50_ms:>8.1f} {r.p95_ms:>8.1f} {r.max_ms:>8.1f} "
                     f"{r.forward_ms:>10.2f} {r.ratio:>6.2f} {r.inputs:>7} {r.dropped:>7}")
    if startup_s is not None:
        lines.append(f"startup: {startup_s:.2f} s from process start to the first complete update")
    return "\n".join(lines)


@dataclass(frozen=True)
class SoakStats:
    """Resident memory over a long mixed run: after the warm-up pass, once warm (after the run's first
    minute, or fifth if shorter), at the end, and the highest sample. Growth once warm is end - warm."""

    seconds: float
    rss_start_mb: float
    rss_warm_mb: float
    rss_end_mb: float
    rss_peak_mb: float
    updates: int  # frame results shown after the warm-up pass
    model_switches: int
    device: str

    def to_json(self) -> dict:
        return {k: (round(v, 1) if isinstance(v, float) else v) for k, v in asdict(self).items()}

    def line(self) -> str:
        return (f"soak: {self.seconds:.0f} s on {self.device}, resident memory {self.rss_start_mb:.1f} MB after "
                f"the warm-up pass, {self.rss_warm_mb:.1f} MB once warm, {self.rss_end_mb:.1f} MB at the end "
                f"({self.rss_end_mb - self.rss_warm_mb:+.1f} MB since warm, peak {self.rss_peak_mb:.1f} MB), "
                f"{self.updates} updates, {self.model_switches} model switches")
