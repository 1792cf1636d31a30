"""`workbench report`: runs logged to a real MLflow store (sqlite) -> seed tables, CSVs, PNGs, an MLflow run."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import pytest

from workbench.cli import main
from workbench.reporting.results import ResultsFile
from workbench.reporting.table import Column, Table, format_cell, percent_cell, read_json_or_none
from workbench.tracking.loggers import MLflowLogger


def test_gap_is_never_a_zero():
    table = Table("t", "T", [Column("name", "text"), Column("rate"), Column("count", "count")],
                  [["a", 0.0, 0], ["b", None, None], ["c", 0.12345, 3]])
    markdown = table.to_markdown()
    assert "| a | 0.00 | 0 |" in markdown and "| b | – | – |" in markdown and "| c | 12.35 | 3 |" in markdown
    rows = list(csv.reader(table.to_csv().splitlines()))
    assert rows[1] == ["a", "0.0", "0"] and rows[2] == ["b", "", ""]
    assert table.filled_cells() == 4


def test_one_cell_format_and_alignment():
    assert [format_cell(v) for v in (0.12345, None, math.nan)] == ["12.35", "–", "–"]
    assert (format_cell(0.12345, digits=1), format_cell(2.5, "number"), format_cell(2.6, "count"),
            format_cell(7, "text")) \
        == ("12.3", "2.50", "3", "7")
    assert percent_cell(0.5) == "50.00"
    table = Table("t", "T", [Column("name", "text"), Column("rate", align="left"), Column("n", "count", align="right")],
                  [["a", 0.5, 3]], note="a note")
    assert table.grid() == "| name | rate | n |\n|---|---|---:|\n| a | 50.00 | 3 |\n"
    assert table.to_markdown() == "### T\n\n" + table.grid() + "\na note\n"
    with pytest.raises(ValueError, match="kind"):
        Column("x", "percentage")


def test_read_json_or_none(tmp_path):
    (tmp_path / "m.json").write_text('{"wer": 0.1}')
    (tmp_path / "bad.json").write_text("{")
    assert read_json_or_none(tmp_path / "m.json") == {"wer": 0.1}
    assert read_json_or_none(tmp_path / "bad.json") is None and read_json_or_none(tmp_path / "none.json") is None


def _log(uri: str, experiment: str, name: str, tags: dict, metrics: dict, params: dict | None = None,
         artifacts: dict | None = None, tmp: Path | None = None, status: str = "FINISHED") -> None:
    logger = MLflowLogger(experiment, name, uri, tags=tags)
    if params:
        logger.log_params(params)
    logger.log_metrics(metrics)
    for file_name, payload in (artifacts or {}).items():
        path = tmp / name / file_name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(payload))
        logger.log_artifact(path)
    logger.finish(status)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """A real sqlite tracking store holding one or two runs of every study's stages."""
    tmp = tmp_path_factory.mktemp("mlflow")
    uri = f"sqlite:///{tmp / 'mlflow.db'}"
    # seed 003: ce on both pairs; an older ce/cmn_eng run that the newer one replaces; a FAILED run ignored
    _log(uri, "cs", "old", {"stage": "eval_asr", "variant": "ce", "pair": "cmn_eng"}, {"mer": 0.5, "pier": 0.5})
    _log(uri, "cs", "new", {"stage": "eval_asr", "variant": "ce", "pair": "cmn_eng"}, {"mer": 0.1234, "pier": 0.2})
    _log(uri, "cs", "failed", {"stage": "eval_asr", "variant": "wce", "pair": "cmn_eng"}, {"mer": 0.9}, status="FAILED")
    _log(uri, "cs", "vie", {"stage": "eval_asr", "variant": "ce", "pair": "vie_eng"}, {"mer": 0.0, "pier": 0.25})
    _log(uri, "cs", "nm", {"stage": "nearmiss", "manifest": "data/x/cmn_eng/train.jsonl"},
         {"nm_per_utt_acoustic_phoneme_text": 3.8})
    _log(uri, "cs", "mine", {"stage": "eval_asr", "variant": "my_loss", "pair": "cmn_eng"}, {"mer": 0.3, "pier": 0.3},
         params={"experiment.label": "my loss", "experiment.table": "2", "experiment.row": "9"})
    # retrieval: the phonetic baseline and one learned variant (vocabulary sizes from metrics.json)
    sizes = {"vocabularies": {"own": 31, "lists": 464}}
    _log(uri, "ret", "eval-phonetic", {"stage": "eval_retrieval", "variant": "phonetic"},
         {f"lists/phonetic/{m}@{k}_recall": 0.1 * k for m in ("exact", "substring") for k in (1, 2, 5, 10)}
         | {"lists/phonetic/exact@1_f1": 0.11, "own/phonetic/exact@1_recall": 0.6},
         artifacts={"metrics.json": sizes}, tmp=tmp)
    _log(uri, "ret", "eval-clar_global", {"stage": "eval_retrieval", "variant": "clar_global"},
         {f"lists/{s}/exact@{k}_recall": 0.05 * k for s in ("learned", "fused") for k in (1, 2, 5, 10)},
         artifacts={"metrics.json": sizes}, tmp=tmp)
    # speech LLM: sft and grpo, NA / GT / top-k
    contextual = {}
    for model, shift in (("sft", 0.0), ("grpo", -0.1)):
        for condition, ker in (("NA", 1.0), ("GT", 0.7), ("top1", 0.9), ("top2", 0.8), ("top5", 0.85)):
            contextual[f"{model}/greedy/{condition}/ker"] = ker + shift
            contextual[f"{model}/greedy/{condition}/sacc"] = 0.1
            contextual[f"{model}/greedy/{condition}/cer"] = 0.2
    _log(uri, "llm", "eval-contextual", {"stage": "eval_contextual"}, contextual)
    _log(uri, "s12", "s1s2", {"stage": "s1s2_replay", "manifest": "data/x/en_entities/test.jsonl"},
         {"no_bias.wer": 0.24, "s1.wer": 0.08, "s1_s2a.trigger_rate": 0.0}, params={"name": "en_entities"})
    _log(uri, "base", "evaluate", {"stage": "evaluate", "manifest": "data/x/en_entities/test.jsonl"},
         {"wer": 0.23, "utterances": 30}, params={"name": "en_entities"})
    return uri


def test_report_renders_every_study_from_mlflow(store, tmp_path, capsys):
    out = tmp_path / "report"
    assert main(["report", "--tracking-uri", store, "--experiments", "experiments", "--out", str(out),
                 "--print", "main"]) == 0
    printed = capsys.readouterr().out
    report = (out / "report.md").read_text()
    # seed 003: the newest finished run wins, the FAILED one is ignored, a missing variant is a row of gaps
    assert "| CE | 12.34 | 20.00 | 0.00 | 25.00 |" in report
    assert "| WCE | – | – | – | – |" in report
    assert "| my loss | 30.00 | 30.00 | – | – |" in report  # a variant the YAMLs do not know
    assert "| WCE + CL (tri-level) | – | – | 3.80 | – | – | – |" in report  # NM/utt of the tri-level gate
    # retrieval: words from the metrics.json artifact, @ metric names through MLflow's name mapping
    assert "| phonetic baseline (ASR 1-best) | phonetic | 464 | 10.00 | 50.00 | 100.00 | 11.00 |" in report
    assert "| L_global | fused | 464 | 5.00 | 25.00 | 50.00 | – |" in report
    assert "| L_global + L_local | learned | – | – | – | – | – |" in report
    # speech LLM: seed 001 Table 3 (transposed as the seed prints it) and Table 4
    assert "| KER (↓) | 100.00 | 90.00 | 80.00 | 85.00 |" in report
    assert "| KER (↓) | 100.00 | 80.00 | 70.00 |" in report
    assert "| en_entities | S1 | 8.00 |" in report and "| en_entities | 30 | 23.00 |" in report
    # CSV: raw fractions, gaps empty
    rows = {r[0]: r for r in csv.reader((out / "tables" / "seed003_table2.csv").read_text().splitlines())}
    assert rows["CE"][1:] == ["0.1234", "0.2", "0.0", "0.25"] and rows["WCE"][1:] == ["", "", "", ""]
    # plots: PNGs with drawn pixels, and the plotted points as CSV
    import matplotlib.image

    for name in ("retrieval_recall_at_k", "speechllm_ker_vs_k", "cs_nmg_mer_pier", "baseline_wer_pier"):
        image = matplotlib.image.imread(out / "plots" / f"{name}.png")
        assert image.shape[0] > 200 and image.std() > 0.05
    points = list(csv.DictReader((out / "plots" / "speechllm_ker_vs_k.csv").read_text().splitlines()))
    assert {(p["series"], p["k"], p["KER (%)"]) for p in points} >= {("sft", "2", "80.0"), ("grpo", "2", "70.0")}
    # printed: the main tables and where the report is
    assert "Seed 003 Table 2" in printed and "Baseline:" not in printed and str(out / "report.md") in printed
    summary = json.loads((out / "summary.json").read_text())
    assert summary["studies"]["cs_nmg"]["tables"]["seed003_table2"] == 6  # CE: 4 cells, my loss: 2


def test_report_is_logged_as_an_mlflow_run_with_artifacts(store, tmp_path):
    from mlflow.tracking import MlflowClient

    out = tmp_path / "report"
    assert main(["report", "--tracking-uri", store, "--out", str(out), "--print", "none",
                 "--studies", "speechllm"]) == 0
    client = MlflowClient(tracking_uri=store)
    experiment = client.get_experiment_by_name("report")
    run = client.search_runs([experiment.experiment_id], order_by=["attributes.start_time DESC"])[0]
    assert run.info.status == "FINISHED" and run.data.tags["stage"] == "report"
    names = {a.path for a in client.list_artifacts(run.info.run_id)} | {
        a.path for a in client.list_artifacts(run.info.run_id, "plots")}
    assert {"report.md", "summary.json", "plots/speechllm_ker_vs_k.png"} <= names
    # the report's own run never shows up as a study row
    assert main(["report", "--tracking-uri", store, "--out", str(out), "--print", "none", "--no-log"]) == 0


def test_empty_store_gives_gaps_not_zeros(tmp_path):
    uri = f"sqlite:///{tmp_path / 'empty.db'}"
    out = tmp_path / "report"
    assert main(["report", "--tracking-uri", uri, "--out", str(out), "--print", "none", "--no-log"]) == 0
    report = (out / "report.md").read_text()
    assert "no runs to plot" in report and "| CE | – | – | – | – |" in report
    assert not list((out / "plots").glob("*.png")) if (out / "plots").exists() else True


def test_unreachable_tracking_server_is_a_clear_error(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "5")
    out = tmp_path / "report"
    assert main(["report", "--tracking-uri", "http://127.0.0.1:9", "--out", str(out), "--no-log"]) == 2
    error = capsys.readouterr().err
    assert "cannot read the MLflow tracking store http://127.0.0.1:9" in error and "Traceback" not in error
    assert not out.exists()


def _write(path: Path, payload: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload))
    return path


def test_results_file_reads_nested_metrics_by_logged_names(tmp_path):
    results = ResultsFile({"lists": {"learned": {"exact@1_recall": 0.5}}, "pier": math.nan, "flag": True})
    assert results.metric("lists/learned/exact@1_recall") == 0.5
    assert results.metric("lists/fused/exact@1_recall") is None and results.metric("pier") is None
    assert results.metric("flag") is None and results.metric("lists") is None
    assert ResultsFile.read(tmp_path / "none.json") is None


def test_table_stages_share_the_reports_tables(store, tmp_path, capsys):
    """report_cs_nmg and table render from metrics.json files what `workbench report` renders from
    MLflow runs of the same results: the same rows, cells and titles."""
    results = tmp_path / "results"
    _write(results / "cs_nmg" / "ce" / "cmn_eng" / "eval" / "metrics.json", {"mer": 0.1234, "pier": 0.2})
    _write(results / "cs_nmg" / "ce" / "vie_eng" / "eval" / "metrics.json", {"mer": 0.0, "pier": 0.25})
    _write(results / "nearmiss" / "cmn_eng" / "stats.json", {"gates": {"acoustic+phoneme+text": {"nm_per_utt": 3.8}}})
    out = tmp_path / "tables.md"
    assert main(["report_cs_nmg", "--results", str(results / "cs_nmg"), "--experiments", "experiments/cs_nmg",
                 "--nearmiss", str(results / "nearmiss"), "--out", str(out)]) == 0
    text = out.read_text()
    assert "### Seed 003 Table 2: training objectives" in text and "| CE | 12.34 | 20.00 | 0.00 | 25.00 |" in text
    assert "| WCE | – | – | – | – |" in text and "| WCE + CL (tri-level) | – | – | 3.80 | – | – | – |" in text
    metrics = _write(results / "baseline" / "en_entities" / "metrics.json",
                     {"name": "en_entities", "utterances": 30, "wer": 0.23, "seconds_per_utterance": 0.5})
    assert main(["table", str(metrics), "--out", str(tmp_path / "table.md")]) == 0
    assert "| en_entities | 30 | 23.00 | – |" in (tmp_path / "table.md").read_text()
    report = tmp_path / "report"
    assert main(["report", "--tracking-uri", store, "--out", str(report), "--print", "none", "--no-log"]) == 0
    shared = [line for line in text.splitlines() if line.startswith(("| CE |", "| WCE |", "### Seed 003"))]
    assert all(line in (report / "report.md").read_text() for line in shared) and len(shared) == 5  # + orderings
    assert main(["table", str(tmp_path / "missing.json")]) == 2
    assert "missing.json" in capsys.readouterr().err
