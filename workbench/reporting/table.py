"""A comparison table as the seeds print them: rows of labelled cells, rendered as Markdown or CSV.

Cells hold the raw value (a rate as a fraction, a count, a text) or None for a run that has not
been done: Markdown shows a gap ("–"), CSV an empty field. A gap is never a zero.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass, field
from typing import Sequence

GAP = "–"


@dataclass(frozen=True)
class Column:
    name: str
    kind: str = "percent"  # percent (fraction shown ×100), number, count, text
    digits: int = 2

    def format(self, value) -> str:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return GAP
        if self.kind == "text":
            return str(value)
        if self.kind == "count":
            return str(int(round(value)))
        if self.kind == "percent":
            return f"{100 * value:.{self.digits}f}"
        return f"{value:.{self.digits}f}"


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
                   if column.kind != "text" and value is not None)

    def to_markdown(self) -> str:
        align = "|" + "|".join("---" if c.kind == "text" else "---:" for c in self.columns) + "|"
        lines = [f"### {self.title}", "", "| " + " | ".join(c.name for c in self.columns) + " |", align]
        lines += ["| " + " | ".join(c.format(v) for c, v in zip(self.columns, row)) + " |" for row in self.rows]
        if self.note:
            lines += ["", self.note]
        return "\n".join(lines) + "\n"

    def to_csv(self) -> str:
        """Raw values (rates as fractions, full precision); empty fields for gaps."""
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow([c.name for c in self.columns])
        for row in self.rows:
            writer.writerow(["" if v is None or (isinstance(v, float) and math.isnan(v)) else v for v in row])
        return buffer.getvalue()
