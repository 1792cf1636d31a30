"""S2 rescoring rates (seed 004): trigger, win and loss rates, added latency percentiles.

Per commit the caller records whether rescoring triggered, whether the primary hypothesis was
replaced, the errors of the primary and of the final text against the reference, and the added
latency. Win rate = replacements that reduced errors / triggered commits; loss rate =
replacements that added errors / triggered commits (both NaN when nothing triggered).
Percentiles use linear interpolation over the triggered commits' added latency.
"""

from __future__ import annotations

from collections.abc import Iterable
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



def rescoring_rates(outcomes: Iterable[CommitOutcome]) -> RescoringResult:
    outcomes = list(outcomes)
    triggered = [o for o in outcomes if o.triggered]
    wins = sum(1 for o in triggered if o.replaced and o.errors_final < o.errors_primary)
    losses = sum(1 for o in triggered if o.replaced and o.errors_final > o.errors_primary)
    latency = np.array([o.added_latency_ms for o in triggered], dtype=float)
    nan = float("nan")
    return RescoringResult(
        commits=len(outcomes),
        trigger_rate=len(triggered) / len(outcomes) if outcomes else nan,
        win_rate=wins / len(triggered) if triggered else nan,
        loss_rate=losses / len(triggered) if triggered else nan,
        replaced=sum(1 for o in triggered if o.replaced),
        latency_p50_ms=float(np.percentile(latency, 50)) if latency.size else nan,
        latency_p95_ms=float(np.percentile(latency, 95)) if latency.size else nan,
    )
