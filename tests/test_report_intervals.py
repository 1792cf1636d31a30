"""Tables show a metric's confidence interval where its run logged ``<m>_ci_lo``/``<m>_ci_hi``:
Markdown "11.60 [8.90, 14.50]", CSV ``<column>_lo``/``<column>_hi`` columns; without them, as before."""

from __future__ import annotations

import csv
import json
import math

from workbench.cli import main
from workbench.reporting.results import ResultsFile, baseline_from_files
from workbench.reporting.studies import estimate
from workbench.reporting.table import Column, Estimate, Table
from workbench.tracking.loggers import MLflowLogger


def _table(rows) -> Table:
    return Table("t", "T", [Column("name", "text"), Column("WER"), Column("n", "count")], rows)


def test_table_without_intervals_renders_as_before():
    table = _table([["a", 0.116, 3], ["b", None, None]])
    assert table.grid() == "| name | WER | n |\n|---|---:|---:|\n| a | 11.60 | 3 |\n| b | – | – |\n"
    assert table.to_csv() == "name,WER,n\na,0.116,3\nb,,\n"
    # an Estimate without a defined interval is the value alone, in Markdown and in CSV
    plain = _table([["a", Estimate(0.116, math.nan, math.nan), 3], ["b", Estimate(None), None]])
    assert plain.grid() == table.grid() and plain.to_csv() == table.to_csv()
    assert plain.filled_cells() == table.filled_cells() == 2


def test_table_with_intervals_shows_them_and_adds_csv_columns():
    table = _table([["a", Estimate(0.116, 0.089, 0.145), 3], ["b", 0.2, 4], ["c", None, None]])
    assert "| a | 11.60 [8.90, 14.50] | 3 |" in table.grid()
    assert "| b | 20.00 | 4 |" in table.grid() and "| c | – | – |" in table.grid()
    rows = list(csv.reader(table.to_csv().splitlines()))
    assert rows[0] == ["name", "WER", "WER_lo", "WER_hi", "n"]
    assert rows[1] == ["a", "0.116", "0.089", "0.145", "3"]
    assert rows[2] == ["b", "0.2", "", "", "4"] and rows[3] == ["c", "", "", "", ""]
    assert table.filled_cells() == 4
    number = Table("t", "T", [Column("x", "number", digits=1)], [[Estimate(2.0, 1.5, 2.5)]])
    assert "| 2.0 [1.5, 2.5] |" in number.grid()


def test_estimate_needs_both_bounds():
    assert estimate(None, "wer") is None
    assert estimate(ResultsFile({"wer": 0.1, "wer_ci_lo": 0.05}), "wer") == 0.1
    assert estimate(ResultsFile({"wer_ci_lo": 0.05, "wer_ci_hi": 0.2}), "wer") is None
    assert estimate(ResultsFile({"wer": 0.1, "wer_ci_lo": 0.05, "wer_ci_hi": 0.2}), "wer") == Estimate(0.1, 0.05, 0.2)
    nested = ResultsFile({"lists": {"fused": {"exact@1_recall": 0.5, "exact@1_recall_ci_lo": 0.4,
                                              "exact@1_recall_ci_hi": 0.6}}})
    assert estimate(nested, "lists/fused/exact@1_recall") == Estimate(0.5, 0.4, 0.6)


def test_baseline_table_from_metrics_files_with_intervals(tmp_path):
    path = tmp_path / "en" / "metrics.json"
    path.parent.mkdir()
    path.write_text(json.dumps({"name": "en", "utterances": 30, "wer": 0.23, "wer_ci_lo": 0.15, "wer_ci_hi": 0.31,
                                "mer": 0.2}))
    table = baseline_from_files([path])
    assert "| en | 30 | 23.00 [15.00, 31.00] | – | 20.00 |" in table.grid()
    header, row = list(csv.reader(table.to_csv().splitlines()))
    assert header[2:6] == ["WER", "WER_lo", "WER_hi", "CER"] and row[2:5] == ["0.23", "0.15", "0.31"]


def _log(uri: str, experiment: str, name: str, tags: dict, metrics: dict, params: dict | None = None) -> None:
    logger = MLflowLogger(experiment, name, uri, tags=tags)
    if params:
        logger.log_params(params)
    logger.log_metrics(metrics)
    logger.finish("FINISHED")


def test_report_from_mlflow_renders_intervals(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    _log(uri, "cs", "ce-cmn", {"stage": "eval_asr", "variant": "ce", "pair": "cmn_eng"},
         {"mer": 0.1234, "mer_ci_lo": 0.1, "mer_ci_hi": 0.15, "pier": 0.2, "pier_ci_lo": 0.1, "pier_ci_hi": 0.3})
    _log(uri, "cs", "ce-vie", {"stage": "eval_asr", "variant": "ce", "pair": "vie_eng"},
         {"mer": 0.0, "pier": 0.25})  # logged without intervals: plain cells
    _log(uri, "base", "evaluate", {"stage": "evaluate", "manifest": "data/x/en_entities/test.jsonl"},
         {"wer": 0.23, "wer_ci_lo": 0.15, "wer_ci_hi": 0.31, "utterances": 30}, params={"name": "en_entities"})
    out = tmp_path / "report"
    assert main(["report", "--tracking-uri", uri, "--experiments", "experiments", "--out", str(out),
                 "--print", "none", "--no-log", "--studies", "cs_nmg", "baseline"]) == 0
    report = (out / "report.md").read_text()
    assert "| CE | 12.34 [10.00, 15.00] | 20.00 [10.00, 30.00] | 0.00 | 25.00 |" in report
    assert "| WCE | – | – | – | – |" in report
    assert "| en_entities | 30 | 23.00 [15.00, 31.00] | – |" in report
    rows = list(csv.reader((out / "tables" / "seed003_table2.csv").read_text().splitlines()))
    assert rows[0] == ["method", "cmn_eng MER", "cmn_eng MER_lo", "cmn_eng MER_hi", "cmn_eng PIER",
                       "cmn_eng PIER_lo", "cmn_eng PIER_hi", "vie_eng MER", "vie_eng PIER"]
    ce = next(r for r in rows if r[0] == "CE")
    assert ce[1:] == ["0.1234", "0.1", "0.15", "0.2", "0.1", "0.3", "0.0", "0.25"]
    baseline = list(csv.reader((out / "tables" / "baseline.csv").read_text().splitlines()))
    assert baseline[0][2:5] == ["WER", "WER_lo", "WER_hi"] and baseline[1][2:5] == ["0.23", "0.15", "0.31"]
