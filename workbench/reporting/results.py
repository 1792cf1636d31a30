"""The studies' tables from the stages' result files (metrics.json, stats.json) instead of MLflow.

``workbench report`` reads MLflow runs; the DVC table stages read the files the pipeline wrote.
Both build the same tables (``reporting.studies``), with the same rows, pairs and columns: a
file is read as a run whose metric names are its nested keys joined by ``/``
(``lists/learned/exact@1_recall``), the names the stages log. A file not written yet is a gap.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from workbench.data.atomic import write_text_atomic
from workbench.errors import InputError
from workbench.metrics.intervals import UtteranceRatios
from workbench.reporting.significance import Pairing
from workbench.reporting.studies import (
    CS_PAIRS,
    baseline_table,
    cs_nmg_rows,
    cs_nmg_tables,
    retrieval_rows,
    retrieval_tables,
)
from workbench.reporting.table import Table, read_json_or_none


@dataclass(frozen=True)
class ResultsFile:
    """A stage's JSON results, read like an MLflow run (``metric``); its per-item ratios from the
    ``ratios.json`` beside it."""

    data: Mapping
    path: Path | None = None

    def ratios(self) -> UtteranceRatios | None:
        """The ratios.json beside the file, or None when the stage wrote none."""
        data = None if self.path is None else read_json_or_none(self.path.parent / "ratios.json")
        return None if data is None else UtteranceRatios.from_json(data, str(self.path.parent / "ratios.json"))

    def metric(self, name: str) -> float | None:
        node = self.data
        for part in name.split("/"):
            if not isinstance(node, Mapping) or part not in node:
                return None
            node = node[part]
        if isinstance(node, bool) or not isinstance(node, (int, float)) or math.isnan(node):
            return None
        return node

    @classmethod
    def read(cls, path: Path) -> ResultsFile | None:
        """The file's results, or None when it has not been written (a gap)."""
        data = read_json_or_none(path)
        return cls(data, Path(path)) if isinstance(data, Mapping) else None

    @classmethod
    def load(cls, path: Path) -> ResultsFile:
        """The file's results; a missing or unreadable file is an error naming it."""
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise
        except (OSError, ValueError) as error:
            raise InputError(f"{path}: cannot read metrics: {error}") from None
        if not isinstance(data, Mapping):
            raise InputError(f"{path}: cannot read metrics: not a JSON object")
        return cls(data, Path(path))


FILE_PAIRING = Pairing(lambda results: results.ratios())  # Δ from the ratios.json beside each metrics.json


def baseline_from_files(paths: Sequence[Path]) -> Table:
    """The baseline table from evaluate's metrics.json files (rows in the given order)."""
    named = []
    for path in paths:
        results = ResultsFile.load(path)
        named.append((results.data.get("name") or Path(path).parent.name, results))
    return baseline_table(named)


def cs_nmg_from_files(results: Path, experiments: Path, nearmiss: Path) -> list[Table]:
    """Seed 003 Tables 2-3 from ``<results>/<variant>/<pair>/eval/metrics.json`` and the nearmiss
    stage's ``<nearmiss>/<pair>/stats.json``; rows from the experiment YAMLs."""
    rows = cs_nmg_rows(experiments)
    evals = {(row.name, pair): found for row in rows for pair in CS_PAIRS
             if (found := ResultsFile.read(results / row.name / pair / "eval" / "metrics.json")) is not None}
    stats = {pair: read_json_or_none(nearmiss / pair / "stats.json") or {} for pair in CS_PAIRS}

    def nm_per_utt(pair: str, gate: str | None) -> float | None:
        return ResultsFile(stats[pair]).metric(f"gates/{gate}/nm_per_utt") if gate else None

    return cs_nmg_tables(rows, CS_PAIRS, evals, nm_per_utt, FILE_PAIRING)


def retrieval_from_files(results: Path, experiments: Path, vocabulary: str = "lists") -> list[Table]:
    """The retrieval tables from ``<results>/<variant>/eval/metrics.json`` (the phonetic baseline
    as variant ``phonetic``) and the data-scale curves (``scale_curves_from_files``); rows from
    the experiment YAMLs."""
    rows = retrieval_rows(experiments)
    evals = {name: found for name in ["phonetic", *(row.name for row in rows)]
             if (found := ResultsFile.read(results / name / "eval" / "metrics.json")) is not None}
    sizes = {name: dict(found.data.get("vocabularies") or {}) for name, found in evals.items()}
    return retrieval_tables(rows, evals, sizes, vocabulary, FILE_PAIRING, scale_curves_from_files(results, experiments))


def scale_curves_from_files(results: Path, experiments: Path) -> dict[str, Mapping]:
    """Variant -> its retrieval_scale ``<results>/<variant>/scale/metrics.json``, for the variants
    of the experiment YAMLs that have one."""
    return {row.name: found.data for row in sorted(retrieval_rows(experiments), key=lambda r: r.name)
            if (found := ResultsFile.read(results / row.name / "scale" / "metrics.json")) is not None}


def tables_markdown(tables: Sequence[Table]) -> str:
    """Tables one after another, each followed by its Δ list when it has one, as the table stages
    write them."""
    return "\n".join(t.to_markdown() for table in tables for t in (table, table.deltas()) if t is not None)


def write_tables(tables: Sequence[Table], out: Path | None) -> str:
    """The tables as Markdown (returned), also written atomically to ``out`` when one is given."""
    text = tables_markdown(tables)
    if out is not None:
        write_text_atomic(out, text)
    return text
