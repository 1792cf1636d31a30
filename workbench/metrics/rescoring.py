"""S2 rescoring rates (seed 004): trigger, win and loss rates, added latency percentiles.

Per commit the caller records whether rescoring triggered, whether the primary hypothesis was
replaced, the errors of the primary and of the final text against the reference, and the added
latency. Win rate = replacements that reduced errors / triggered commits; loss rate =
replacements that added errors / triggered commits (both NaN when nothing triggered).
Percentiles use linear interpolation over the triggered commits' added latency.

The three rates are ratios of sums over commits (:func:`rescoring_ratios`: per commit a 0/1
numerator and denominator), so they get bootstrap intervals over commits; the latency percentiles
are order statistics, not ratios of sums, and get none.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from workbench.metrics.result import MetricResult


@dataclass(frozen=True)
class CommitOutcome:
    triggered: bool
    replaced: bool
    errors_primary: int
    errors_final: int
    added_latency_ms: float = 0.0


@dataclass(frozen=True)
class RescoringResult(MetricResult):
    commits: int
    trigger_rate: float
    win_rate: float
    loss_rate: float
    replaced: int
    latency_p50_ms: float
    latency_p95_ms: float


def rescoring_ratios(outcomes: Sequence[CommitOutcome]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per commit the numerator and denominator of the trigger, win and loss rates (0 or 1 each),
    whose sums give :func:`rescoring_rates`' values."""
    def flags(test) -> np.ndarray:
        return np.array([bool(test(o)) for o in outcomes], dtype=np.int64).reshape(len(outcomes))

    triggered = flags(lambda o: o.triggered)
    return {
        "trigger_rate": (triggered, np.ones(len(outcomes), dtype=np.int64)),
        "win_rate": (flags(lambda o: o.triggered and o.replaced and o.errors_final < o.errors_primary), triggered),
        "loss_rate": (flags(lambda o: o.triggered and o.replaced and o.errors_final > o.errors_primary), triggered),
    }


def rescoring_rates(outcomes: Iterable[CommitOutcome]) -> RescoringResult:
    outcomes = list(outcomes)
    rates = {name: _ratio(int(numerator.sum()), int(denominator.sum()))
             for name, (numerator, denominator) in rescoring_ratios(outcomes).items()}
    latency = np.array([o.added_latency_ms for o in outcomes if o.triggered], dtype=float)
    nan = float("nan")
    return RescoringResult(
        commits=len(outcomes),
        **rates,
        replaced=sum(1 for o in outcomes if o.triggered and o.replaced),
        latency_p50_ms=float(np.percentile(latency, 50)) if latency.size else nan,
        latency_p95_ms=float(np.percentile(latency, 95)) if latency.size else nan,
    )


def _ratio(numerator: int, denominator: int) -> float:
    return numerator / denominator if denominator else float("nan")
