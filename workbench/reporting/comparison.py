"""A paired comparison of two systems (``workbench.metrics.intervals.Comparison``) as tables:
the Markdown grid a reader scans (values with intervals, Δ with its interval, p with a mark
where Δ is significant) and the CSV/JSON of raw values with ``_lo``/``_hi``/``_p`` columns."""

from __future__ import annotations

from collections.abc import Sequence

from workbench.errors import InputError
from workbench.metrics.intervals import Comparison
from workbench.reporting.table import SIGNIFICANT, Column, Table, format_cell, interval_cell, is_gap


def chosen_metrics(comparison: Comparison, names: Sequence[str] | None = None) -> list[str]:
    """``names`` (each one the comparison holds), or every metric it holds, in its order."""
    if not names:
        return list(comparison.differences)
    unknown = [name for name in names if name not in comparison.differences]
    if unknown:
        raise InputError(f"no metric(s) {unknown} to compare; these are: {', '.join(comparison.differences)}")
    return list(names)


def comparison_grid(comparison: Comparison, names: Sequence[str], labels: tuple[str, str] = ("A", "B")) -> Table:
    """metric | A [lo, hi] | B [lo, hi] | Δ [lo, hi] | p (rates and Δ in %; * marks p below the level)."""
    rows = []
    for name in names:
        d = comparison.differences[name]
        mark = f" {SIGNIFICANT}" if d.significant(comparison.level) else ""
        rows.append([name, interval_cell(d.a.value, d.a.lo, d.a.hi), interval_cell(d.b.value, d.b.lo, d.b.hi),
                     interval_cell(d.delta, d.lo, d.hi), format_cell(d.p, "number", 3) + mark])
    confidence = f"{100 * comparison.config.confidence:g} %"
    columns = [Column("metric", "text"), *(Column(f"{label} [{confidence} CI]", "text", align="right")
                                           for label in (*labels, "Δ = B − A"))]
    note = (f"{comparison.utterances} utterances, {comparison.config.resamples} paired resamples "
            f"(seed {comparison.config.seed}, p by {comparison.config.test}); {SIGNIFICANT}: p < {comparison.level:g}")
    return Table("compare", "compare", [*columns, Column("p", "text", align="right")], rows, note)


def comparison_data(comparison: Comparison, names: Sequence[str]) -> Table:
    """One row per metric of raw values: a, a_lo, a_hi, b, b_lo, b_hi, delta, delta_lo, delta_hi, delta_p."""
    columns = [Column("metric", "text"), *(Column(name, "number") for name in (
        "a", "a_lo", "a_hi", "b", "b_lo", "b_hi", "delta", "delta_lo", "delta_hi", "delta_p")),
        Column("significant", "text")]
    rows = []
    for name in names:
        d = comparison.differences[name]
        rows.append([name, d.a.value, d.a.lo, d.a.hi, d.b.value, d.b.lo, d.b.hi, d.delta, d.lo, d.hi, d.p,
                     d.significant(comparison.level)])
    return Table("compare", "compare", columns, rows)


def comparison_json(comparison: Comparison, names: Sequence[str]) -> dict:
    """``{"a": {wer, wer_lo, wer_hi, ...}, "b": {...}, "delta": {wer, wer_lo, wer_hi, wer_p, ...}}``
    plus the settings; undefined values are null."""
    def clean(value: float) -> float | None:
        return None if is_gap(value) else value

    payload: dict = {"utterances": comparison.utterances, "confidence": comparison.config.confidence,
                     "resamples": comparison.config.resamples, "seed": comparison.config.seed,
                     "test": comparison.config.test, "a": {}, "b": {}, "delta": {}}
    for name in names:
        d = comparison.differences[name]
        for side, interval in (("a", d.a), ("b", d.b)):
            payload[side].update({name: clean(interval.value), f"{name}_lo": clean(interval.lo),
                                  f"{name}_hi": clean(interval.hi)})
        payload["delta"].update({name: clean(d.delta), f"{name}_lo": clean(d.lo), f"{name}_hi": clean(d.hi),
                                 f"{name}_p": clean(d.p)})
    return payload
