"""Paired comparisons in the report's tables: a cell against its table's baseline on the same
items, from the runs' per-item ratios (``ratios.json``), and the reading of each seed's ordering.

A study marks each row's cell with its Δ to the baseline row (the seed model, the phonetic
baseline, NA, no bias), its interval and p (:class:`workbench.reporting.table.Versus`); a seed's
claim "B beats A" is an :class:`Ordering` whose verdict says whether the workbench's runs show it
and whether the difference is significant. Runs without ratios (older runs, other stores) keep
their cells and intervals, without Δ.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from workbench.errors import InputError
from workbench.metrics.intervals import Difference, UtteranceRatios, compare_ratios
from workbench.metrics.options import IntervalConfig
from workbench.reporting.table import SIGNIFICANT, Column, Estimate, Table, Versus, format_cell, interval_cell


class Results(Protocol):
    """One stage run's results, by the names the stage logs (``lists/learned/exact@1_recall``):
    an MLflow run (``RunRecord``) or the stage's metrics.json (``reporting.results.ResultsFile``)."""

    def metric(self, name: str) -> float | None: ...


def estimate(run: Results | None, name: str):
    """A metric as a table cell: with its confidence interval where the run logged
    ``<name>_ci_lo`` and ``<name>_ci_hi`` (an :class:`Estimate`), else the value alone (None: a gap)."""
    if run is None:
        return None
    value, lo, hi = run.metric(name), run.metric(f"{name}_ci_lo"), run.metric(f"{name}_ci_hi")
    return value if value is None or lo is None or hi is None else Estimate(value, lo, hi)


Side = tuple[Results | None, str]  # a run and one of its metric names


@dataclass(frozen=True)
class Ordering:
    """A seed's claim that system B does better than system A on a metric, and what the runs show."""

    claim: str
    a: str  # labels of the two systems
    b: str
    better: str  # "lower" or "higher": the direction the seed reports for B
    difference: Difference | None  # B − A, paired; None: a run or its ratios are missing
    level: float = 0.05

    def verdict(self) -> str:
        d = self.difference
        if d is None or d.delta != d.delta:
            return "no paired runs"
        if d.delta == 0:
            return "no difference"
        holds = (d.delta < 0) == (self.better == "lower")
        significant = d.significant(self.level)
        return ("holds" if holds else "reversed") + (", significant" if significant else ", not significant")


class Pairing:
    """Paired tests between runs' cells from their ratios (``ratios_of(run)``: None when a run has none)."""

    def __init__(self, ratios_of: Callable[[Results], UtteranceRatios | None],
                 config: IntervalConfig = IntervalConfig()):
        self._ratios_of = ratios_of
        self.config = config
        self._ratios: dict[int, UtteranceRatios | None] = {}

    @property
    def level(self) -> float:
        return 1 - self.config.confidence

    def ratios(self, run: Results) -> UtteranceRatios | None:
        if id(run) not in self._ratios:
            self._ratios[id(run)] = self._ratios_of(run)
        return self._ratios[id(run)]

    def difference(self, a: Side, b: Side) -> Difference | None:
        """Δ = B − A of two runs' metrics (or two metrics of one run) on the same items; None when
        either side lacks ratios for it or the runs cover different items (other test sets)."""
        (run_a, name_a), (run_b, name_b) = a, b
        if run_a is None or run_b is None:
            return None
        ratios_a, ratios_b = self.ratios(run_a), self.ratios(run_b)
        if ratios_a is None or ratios_b is None or name_a not in ratios_a.metrics or name_b not in ratios_b.metrics:
            return None
        try:
            comparison = compare_ratios(ratios_a.select(name_a, "m"), ratios_b.select(name_b, "m"), ("m",),
                                        self.config)
        except InputError:
            return None
        return comparison.differences["m"]

    def cell(self, run: Results | None, name: str, baseline: tuple[str, Results | None, str] | None = None):
        """:func:`estimate`, compared with ``baseline`` = (label, run, metric name) when both have ratios."""
        cell = estimate(run, name)
        if cell is None or baseline is None:
            return cell
        label, base_run, base_name = baseline
        if base_run is run and base_name == name:
            return cell  # the baseline itself
        d = self.difference((base_run, base_name), (run, name))
        if d is None:
            return cell
        value = cell if isinstance(cell, Estimate) else Estimate(cell)
        return dataclasses.replace(value, versus=Versus(label, d.a.value, d.delta, d.lo, d.hi, d.p, self.level))

    def ordering(self, claim: str, a: tuple[str, Results | None, str], b: tuple[str, Results | None, str],
                 better: str) -> Ordering:
        """The claim "B is ``better`` (lower/higher) than A"; a, b = (label, run, metric name)."""
        return Ordering(claim, a[0], b[0], better, self.difference(a[1:], b[1:]), self.level)


def orderings_table(slug: str, title: str, orderings: Sequence[Ordering]) -> Table:
    """Each seed ordering with both values, Δ = B − A [interval], p and the verdict."""
    rows = []
    for o in orderings:
        d = o.difference
        a_value, b_value = (d.a.value, d.b.value) if d else (None, None)
        rows.append([o.claim, o.a, o.b, format_cell(a_value), format_cell(b_value),
                     "–" if d is None else interval_cell(d.delta, d.lo, d.hi),
                     "–" if d is None else format_cell(d.p, "number", 3) + (
                         f" {SIGNIFICANT}" if d.significant(o.level) else ""),
                     o.verdict()])
    columns = [Column("seed's ordering", "text"), Column("A", "text"), Column("B", "text"),
               Column("A %", "text", align="right"), Column("B %", "text", align="right"),
               Column("Δ = B − A [CI]", "text", align="right"), Column("p", "text", align="right"),
               Column("on our runs", "text")]
    level = orderings[0].level if orderings else 0.05
    return Table(slug, title, columns, rows,
                 f"Paired bootstrap over the same test utterances; {SIGNIFICANT}: p < {level:g}. \"holds\": our runs "
                 "differ in the seed's direction; \"not significant\": within what resampling the test set gives.")
