"""The one table builder: rows of labelled cells, rendered as Markdown or CSV.

Every table the workbench writes or prints goes through :class:`Table`, and every cell through
:func:`format_cell`, so a rate looks the same everywhere. Cells hold the raw value (a rate as a
fraction, a count, a text) or None for a run that has not been done: Markdown shows a gap ("–"),
CSV an empty field. A gap is never a zero. A cell may also hold an :class:`Estimate` (a value with
its confidence interval): Markdown shows "11.60 [8.90, 14.50]" and the CSV gets ``<column>_lo`` and
``<column>_hi`` columns next to the column; a table without estimates renders as before. An estimate
paired with the table's baseline row (:class:`Versus`: Δ, its interval and p) is marked ``*`` in
Markdown where Δ is significant, and adds ``<column>_delta`` and ``<column>_p`` to the CSV;
:meth:`Table.deltas` lists every such comparison as a table of its own.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

GAP = "–"
KINDS = ("percent", "number", "count", "text")


SIGNIFICANT = "*"


@dataclass(frozen=True)
class Versus:
    """A cell's paired comparison with its table's baseline: Δ = cell − baseline on the same items."""

    baseline: str  # what the cell is compared with (a row label, "phonetic", "NA")
    baseline_value: float
    delta: float
    lo: float
    hi: float
    p: float
    level: float = 0.05

    @property
    def significant(self) -> bool:
        return bool(self.p < self.level)  # NaN: never


@dataclass(frozen=True)
class Estimate:
    """A cell value with its confidence interval (bounds None or NaN where it is undefined), and
    optionally its paired comparison with the table's baseline row."""

    value: float | None
    lo: float | None = None
    hi: float | None = None
    versus: Versus | None = None

    @property
    def has_interval(self) -> bool:
        return not (is_gap(self.value) or is_gap(self.lo) or is_gap(self.hi))


def raw(value):
    """A cell's value without its interval."""
    return value.value if isinstance(value, Estimate) else value


def is_gap(value) -> bool:
    """No value: absent (None) or undefined (NaN, e.g. PIER of a test set without POIs)."""
    value = raw(value)
    return value is None or (isinstance(value, float) and math.isnan(value))


def format_cell(value, kind: str = "percent", digits: int = 2) -> str:
    """A value as a table cell: ``percent`` (a fraction shown ×100), ``number``, ``count``, ``text``;
    an :class:`Estimate` with its interval."""
    if isinstance(value, Estimate):
        mark = f" {SIGNIFICANT}" if value.versus is not None and value.versus.significant else ""
        return interval_cell(value.value, value.lo, value.hi, kind, digits) + mark
    if is_gap(value):
        return GAP
    if kind == "text":
        return str(value)
    if kind == "count":
        return str(int(round(value)))
    if kind == "percent":
        return f"{100 * value:.{digits}f}"
    return f"{value:.{digits}f}"


def percent_cell(value, digits: int = 2) -> str:
    """A rate as a percentage cell ("12.34"); a missing value is a gap, never a zero."""
    return format_cell(value, "percent", digits)


def interval_cell(value, lo, hi, kind: str = "percent", digits: int = 2) -> str:
    """A value with its confidence interval, "11.60 [8.90, 14.50]"; the value alone where the
    interval is undefined, a gap where the value is."""
    if is_gap(value) or is_gap(lo) or is_gap(hi):
        return format_cell(value, kind, digits)
    return f"{format_cell(value, kind, digits)} [{format_cell(lo, kind, digits)}, {format_cell(hi, kind, digits)}]"


@dataclass(frozen=True)
class Column:
    name: str
    kind: str = "percent"  # percent (fraction shown ×100), number, count, text
    digits: int = 2
    align: str | None = None  # "left" or "right"; default: text left, numbers right

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"Column {self.name!r}: kind must be one of {KINDS}, got {self.kind!r}")
        if self.align not in (None, "left", "right"):
            raise ValueError(f"Column {self.name!r}: align must be 'left' or 'right', got {self.align!r}")

    def format(self, value) -> str:
        return format_cell(value, self.kind, self.digits)

    @property
    def rule(self) -> str:
        """The column's cell in the Markdown separator row."""
        align = self.align or ("left" if self.kind == "text" else "right")
        return "---" if align == "left" else "---:"


@dataclass(frozen=True)
class Table:
    slug: str  # file name of the CSV
    title: str
    columns: Sequence[Column]
    rows: Sequence[Sequence] = field(default_factory=list)
    note: str = ""

    def filled_cells(self) -> int:
        """How many numeric cells hold a value (a table with none has no runs behind it)."""
        return sum(1 for row in self.rows for column, value in zip(self.columns, row)
                   if column.kind != "text" and raw(value) is not None)

    def grid(self) -> str:
        """The Markdown table alone: header, separator and one line per row (no title, no note)."""
        lines = ["| " + " | ".join(c.name for c in self.columns) + " |",
                 "|" + "|".join(c.rule for c in self.columns) + "|"]
        lines += ["| " + " | ".join(c.format(v) for c, v in zip(self.columns, row)) + " |" for row in self.rows]
        return "\n".join(lines) + "\n"

    def interval_columns(self) -> set[int]:
        """Positions of the columns where some row's cell carries a defined interval."""
        return {i for row in self.rows for i, v in enumerate(row) if isinstance(v, Estimate) and v.has_interval}

    def paired_columns(self) -> set[int]:
        """Positions of the columns where some row's cell is compared with the baseline."""
        return {i for row in self.rows for i, v in enumerate(row) if isinstance(v, Estimate) and v.versus is not None}

    def to_markdown(self) -> str:
        """``### title``, the grid, and the note under it (with the meaning of ``*`` when used)."""
        note = self.note
        marked = [v.versus for row in self.rows for v in row if isinstance(v, Estimate) and v.versus is not None]
        if marked:
            note = (note + " " if note else "") + (
                f"[lo, hi]: {100 * (1 - marked[0].level):g} % bootstrap interval over utterances; {SIGNIFICANT}: "
                f"differs from its baseline ({', '.join(sorted({m.baseline for m in marked}))}) at "
                f"p < {marked[0].level:g}, paired over the same utterances (Δ and p: the table's Δ list).")
        text = f"### {self.title}\n\n" + self.grid()
        return text + (f"\n{note}\n" if note else "")

    def to_csv(self) -> str:
        """Raw values (rates as fractions, full precision); empty fields for gaps. A column with
        intervals is followed by ``<column>_lo`` and ``<column>_hi``, one compared with a baseline by
        ``<column>_delta`` and ``<column>_p`` (empty where a row has none)."""
        intervals, paired = self.interval_columns(), self.paired_columns()
        header = []
        for i, column in enumerate(self.columns):
            header += [column.name] + ([f"{column.name}_lo", f"{column.name}_hi"] if i in intervals else []) + (
                [f"{column.name}_delta", f"{column.name}_p"] if i in paired else [])
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(header)
        for row in self.rows:
            fields = []
            for i, value in enumerate(row):
                fields.append("" if is_gap(value) else raw(value))
                if i in intervals:
                    shown = isinstance(value, Estimate) and value.has_interval
                    fields += [value.lo, value.hi] if shown else ["", ""]
                if i in paired:
                    versus = value.versus if isinstance(value, Estimate) else None
                    fields += ["" if versus is None or is_gap(versus.delta) else versus.delta,
                               "" if versus is None or is_gap(versus.p) else versus.p]
            writer.writerow(fields)
        return buffer.getvalue()

    def deltas(self) -> Table | None:
        """Every cell compared with its baseline, one line each: row, column, baseline, value,
        Δ [interval], p (None when no cell is)."""
        labels = [i for i, c in enumerate(self.columns) if c.kind == "text"]
        rows, level = [], None
        for row in self.rows:
            for column, value in zip(self.columns, row):
                if not isinstance(value, Estimate) or value.versus is None:
                    continue
                v, level = value.versus, value.versus.level
                rows.append([" / ".join(str(row[i]) for i in labels), column.name, v.baseline,
                             format_cell(v.baseline_value, column.kind, column.digits),
                             format_cell(value.value, column.kind, column.digits),
                             interval_cell(v.delta, v.lo, v.hi, column.kind, column.digits),
                             format_cell(v.p, "number", 3) + (f" {SIGNIFICANT}" if v.significant else "")])
        if not rows:
            return None
        columns = [Column("row", "text"), Column("metric", "text"), Column("baseline", "text"),
                   Column("baseline value", "text", align="right"), Column("value", "text", align="right"),
                   Column("Δ [CI]", "text", align="right"), Column("p", "text", align="right")]
        return Table(f"{self.slug}_deltas", f"{self.title}: Δ against the baseline", columns, rows,
                     f"Δ = value − baseline, paired bootstrap over the same utterances; {SIGNIFICANT}: p < {level:g}.")


def read_json_or_none(path: Path | str) -> dict | None:
    """A results file, or None when the run that writes it has not been done (a gap in a table)."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
