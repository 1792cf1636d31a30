"""``workbench compare --runs A B``: two runs' ratios.json, from stage output directories, ratios
files or MLflow run ids, paired on their items (workbench/reporting/run_ratios.py)."""

import csv
import json

import numpy as np
import pytest

from workbench.cli import main
from workbench.metrics.intervals import UtteranceRatios
from workbench.tracking.loggers import MLflowLogger

RECALL = "lists/fused/exact@1_recall"


def ratios(errors: list[int], hits: list[int], ids: list[str] | None = None) -> UtteranceRatios:
    """Per-utterance WER counts (10 tokens each) and a 0/1 recall per query."""
    ids = ids or [f"u{i}" for i in range(len(errors))]
    ones = np.ones(len(errors))
    return UtteranceRatios(tuple(ids), {"wer": (np.array(errors, float), 10 * ones),
                                        RECALL: (np.array(hits, float), ones)})


def write_run(directory, value: UtteranceRatios):
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "ratios.json").write_text(json.dumps(value.to_json()), encoding="utf-8")
    return directory


A = ratios([3] * 40, [1, 0] * 20)  # WER 30 %, recall 50 %
B = ratios([1] * 40, [1, 0] * 20)  # WER 10 %: a planted improvement; recall unchanged


@pytest.fixture()
def runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no params.yaml here: the built-in defaults
    return write_run(tmp_path / "a", A), write_run(tmp_path / "b", B)


def test_runs_from_directories_and_files(runs, capsys):
    a, b = runs
    out = a.parent / "cmp"
    assert main(["compare", "--runs", str(a), str(b / "ratios.json"), "--out", str(out),
                 "--set", "intervals.resamples=300"]) == 0
    printed = capsys.readouterr().out
    assert "| metric | A [95 % CI] | B [95 % CI] | Δ = B − A [95 % CI] | p |" in printed
    wer = next(line for line in printed.splitlines() if line.startswith("| wer |"))
    assert wer.endswith(" * |")  # 30 % -> 10 % on every utterance: significant
    recall = next(line for line in printed.splitlines() if line.startswith(f"| {RECALL} |"))
    assert "| 0.00 [0.00, 0.00] | 1.000 |" in recall  # the same hits: Δ 0, p 1
    rows = {row["metric"]: row for row in csv.DictReader((out / "compare.csv").open(encoding="utf-8"))}
    assert set(rows) == {"wer", RECALL}
    assert float(rows["wer"]["delta"]) == pytest.approx(-0.2) and float(rows["wer"]["delta_hi"]) < 0
    payload = json.loads((out / "compare.json").read_text(encoding="utf-8"))
    assert payload["resamples"] == 300 and payload["delta"]["wer_p"] < 0.05 and payload["a"]["wer"] == 0.3

    assert main(["compare", "--runs", str(a), str(b), "--metrics", RECALL, "--out", str(out)]) == 0
    assert "| wer |" not in capsys.readouterr().out
    assert [row["metric"] for row in csv.DictReader((out / "compare.csv").open(encoding="utf-8"))] == [RECALL]


def test_runs_pair_items_by_id_whatever_their_order(runs, capsys):
    a, _ = runs
    shuffled = write_run(a.parent / "shuffled", ratios([3] * 40, [1, 0] * 20, [f"u{i}" for i in reversed(range(40))]))
    assert main(["compare", "--runs", str(a), str(shuffled), "--metrics", "wer"]) == 0
    assert "| 0.00 [0.00, 0.00] | 1.000 |" in capsys.readouterr().out


@pytest.mark.parametrize("argv, message", [
    (["--runs", "a", "b", "--ref", "r.jsonl"], "give either --runs A B, or --ref with --hyp-a and --hyp-b"),
    ([], "give either --runs A B"),
    (["--ref", "r.jsonl", "--hyp-a", "a.jsonl"], "give either --runs A B"),
    (["--runs", "a", "b", "--hotwords", "h.txt"], "--hotwords only with these"),
    (["--runs", "a", "nowhere"], "nowhere: stage output directory, ratios.json or MLflow run id not found"),
    (["--runs", "a", "empty"], "empty: no ratios.json (it predates per-item ratios, or its stage writes none)"),
    (["--runs", "a", "b", "--metrics", "wer", "cer"], "run A (a) has no per-item ratios of ['cer'] (it has: "),
    (["--runs", "a", "other"], "the runs cover different items"),
    (["--runs", "a", "broken/ratios.json"], "broken/ratios.json: cannot read per-item ratios"),
])
def test_bad_inputs_are_one_clear_line(runs, capsys, argv, message):
    root = runs[0].parent
    (root / "empty").mkdir()
    write_run(root / "other", ratios([1] * 5, [1] * 5))
    (root / "broken").mkdir()
    (root / "broken" / "ratios.json").write_text("{", encoding="utf-8")
    assert main(["compare", *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("workbench compare: ") and message in err and "Traceback" not in err


def _log_run(uri: str, tmp, name: str, value: UtteranceRatios | None) -> str:
    logger = MLflowLogger("compare-test", name, uri, tags={"stage": "evaluate"})
    logger.log_metrics({"wer": 0.3})
    if value is not None:
        write_run(tmp / name, value)
        logger.log_artifact(tmp / name / "ratios.json")
    logger.finish()
    return logger.run_id


def test_runs_by_mlflow_run_id(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    run_a, run_b = _log_run(uri, tmp_path, "a", A), _log_run(uri, tmp_path, "b", B)
    old = _log_run(uri, tmp_path, "old", None)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)  # the default store, as the other stages log to it
    assert main(["compare", "--runs", run_a, run_b, "--metrics", "wer"]) == 0
    assert next(line for line in capsys.readouterr().out.splitlines() if line.startswith("| wer |")).endswith(" * |")
    monkeypatch.delenv("MLFLOW_TRACKING_URI")
    # a run id and a directory mix; the store named explicitly
    assert main(["compare", "--runs", run_a, str(write_run(tmp_path / "dir", A)), "--tracking-uri", uri]) == 0
    assert "| 0.00 [0.00, 0.00] | 1.000 |" in capsys.readouterr().out
    assert main(["compare", "--runs", run_a, old, "--tracking-uri", uri]) == 2
    assert f"run {old} (old): no ratios.json artifact (it predates per-item ratios" in capsys.readouterr().err
    missing = "0" * 32
    assert main(["compare", "--runs", run_a, missing, "--tracking-uri", uri]) == 2
    assert f"run {missing}: no finished run with this id in {uri}" in capsys.readouterr().err


def test_hypothesis_files_take_free_metric_names_and_name_unknown_ones(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    refs, hyps = tmp_path / "ref.jsonl", tmp_path / "hyp.jsonl"
    refs.write_text("".join(json.dumps({"id": f"u{i}", "text": "a b c"}) + "\n" for i in range(5)))
    hyps.write_text("".join(json.dumps({"id": f"u{i}", "hypothesis": "a b"}) + "\n" for i in range(5)))
    files = ["--ref", str(refs), "--hyp-a", str(hyps), "--hyp-b", str(hyps)]
    assert main(["compare", *files, "--metrics", "cer", "wer"]) == 0
    assert [line.split("|")[1].strip() for line in capsys.readouterr().out.splitlines()
            if line.startswith("| ") and "[" in line and "metric" not in line] == ["cer", "wer"]
    assert main(["compare", *files, "--metrics", "wer", "recall"]) == 2
    assert "no metric(s) ['recall'] to compare; these are: wer, cer," in capsys.readouterr().err
