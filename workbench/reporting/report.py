"""The report document: every study's tables and plots from one tracking store, as Markdown,
CSV and summary values (``workbench report`` writes them, the plots as PNG files).

``report.md`` holds every study with its plots inlined (``plots/<slug>.png``); ``main_tables.md``
the seeds' main tables only (what ``make demo`` prints); ``summary.json`` the runs and filled
cells per study.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from workbench.reporting.runs import RunStore
from workbench.reporting.studies import STUDIES, PlotData, StudyReport
from workbench.reporting.table import Table

MAIN_TABLES = ("seed003_table2", "seed003_table3", "seed003_orderings", "seed000_table1", "seed001_tables1_2",
               "retrieval_orderings", "seed000_table3", "seed001_table3", "seed001_table4", "speechllm_orderings",
               "seed004_s1s2", "seed004_orderings")


@dataclass(frozen=True)
class Report:
    uri: str
    runs_in_store: int
    studies: Sequence[StudyReport]
    created: str  # local time the report was made, as its header says

    def tables(self) -> Iterator[Table]:
        """Every study's tables, each followed by its list of Δ against the baseline (when it has one)."""
        for study in self.studies:
            for table in study.tables:
                yield table
                if (deltas := table.deltas()) is not None:
                    yield deltas

    def plots(self) -> list[PlotData]:
        """The plots that have something to draw (the others are a line in the report)."""
        return [plot for study in self.studies for plot in study.plots if plot.has_data()]

    def markdown(self) -> str:
        sections = ["# Contextual ASR Workbench report", "",
                    f"From {self.runs_in_store} finished MLflow runs at `{self.uri}`, {self.created}. "
                    "Newest run per stage and variant; rates in %; \"–\" = no run (a gap, never a zero).", ""]
        for study in self.studies:
            sections += [f"## {study.title}", "", f"{study.runs} runs.", ""]
            sections += [table.to_markdown() for table in study.tables]
            sections += [deltas.to_markdown() for table in study.tables if (deltas := table.deltas()) is not None]
            for plot in study.plots:
                sections += [f"![{plot.title}](plots/{plot.slug}.png)" if plot.has_data()
                             else f"*{plot.title}: no runs to plot.*", ""]
        return "\n".join(sections)

    def main_tables(self, everything: bool = False) -> list[Table]:
        return [table for table in self.tables() if everything or table.slug in MAIN_TABLES]

    def summary(self) -> dict:
        return {"tracking_uri": self.uri, "runs_in_store": self.runs_in_store, "studies": {
            study.name: {"runs": study.runs, "tables": {t.slug: t.filled_cells() for t in study.tables},
                         "plots": [p.slug for p in study.plots if p.has_data()]} for study in self.studies}}

    def tracked_metrics(self) -> dict[str, float]:
        """Filled cells per study, the report run's metrics."""
        return {f"{name}.filled_cells": sum(s["tables"].values()) for name, s in self.summary()["studies"].items()}


def build_report(store: RunStore, experiments: Path | None, studies: Sequence[str] = tuple(STUDIES)) -> Report:
    """The named studies from ``store``; ``experiments`` (the YAML directory) gives the rows each expects."""
    reports = [STUDIES[name](store, experiments) for name in studies]
    return Report(store.uri, len(store.runs), reports, time.strftime("%Y-%m-%d %H:%M:%S %Z"))
