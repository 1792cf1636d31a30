"""The one timing helper the benchmark scripts share (they run as scripts from the repo root)."""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def timed(fn: Callable[[], T], repeats: int) -> tuple[float, T]:
    """Median wall time over ``repeats`` calls, and the last call's result."""
    times, out = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), out


def timed_rounds(
    fns: dict[str, Callable[[], object]], repeats: int
) -> tuple[dict[str, list[float]], dict[str, object]]:
    """Wall times of several functions run in interleaved rounds (a, b, c, a, b, c, ...).

    On a shared 2-core VM the speed drifts by tens of percent over seconds; interleaving puts every
    function under the same drift, so per-round ratios are far steadier than ratios of
    separately taken medians. Returns the times per function and each function's last result.
    """
    times: dict[str, list[float]] = {name: [] for name in fns}
    results: dict[str, object] = {}
    for _ in range(repeats):
        for name, fn in fns.items():
            # every call starts from the same collector state: otherwise a function pays for the
            # garbage (and the generation counters) the previous one left behind
            gc.collect()
            start = time.perf_counter()
            results[name] = fn()
            times[name].append(time.perf_counter() - start)
    return times, results


def median_ratio(numerator: list[float], denominator: list[float]) -> float:
    """Median over rounds of numerator/denominator (e.g. baseline time / our time = speed-up)."""
    return statistics.median(n / d for n, d in zip(numerator, denominator))
