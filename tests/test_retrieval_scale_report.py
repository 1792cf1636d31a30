"""The data-scale curve in the reports: retrieval_scale's metrics.json (from a real ``ScaleCurve``)
-> the table (R@k with intervals per size) and the plot (error bars), by ``report_retrieval``
from files and by ``report`` from a real MLflow store; and the vocabulary-scale header."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np

from workbench.cli import main
from workbench.metrics.intervals import UtteranceRatios
from workbench.metrics.options import IntervalConfig
from workbench.retrieval.fit import ScaleCurve
from workbench.tracking.loggers import MLflowLogger

EXPERIMENTS = Path(__file__).resolve().parents[1] / "experiments"
QUERIES = 40
SIZES = (100, 400, 1500, 2130)
INTERVALS = IntervalConfig(resamples=200)


def _curve(hits_per_size: tuple[int, ...]) -> ScaleCurve:
    """A curve over 40 held-out queries: at each size the first ``hits`` queries found at rank 1,
    every query found in the top 5 from 400 words on."""
    ids = tuple(f"q{i}" for i in range(QUERIES))
    gold = np.ones(QUERIES)
    ratios = {}
    for size, hits in zip(SIZES, hits_per_size):
        ratios[f"words_{size}/exact@1_recall"] = ((np.arange(QUERIES) < hits).astype(float), gold)
        ratios[f"words_{size}/exact@5_recall"] = ((np.arange(QUERIES) < (hits if size == 100 else QUERIES))
                                                  .astype(float), gold)
    return ScaleCurve(SIZES, (300, 1200, 4500, 6400), (12.0, 40.5, 130.2, 190.0), 464,
                      UtteranceRatios(ids, ratios), (1, 5))


def _write_curve(results: Path, variant: str, curve: ScaleCurve) -> dict:
    out = results / variant / "scale"
    out.mkdir(parents=True)
    metrics = curve.metrics(INTERVALS)
    (out / "metrics.json").write_text(json.dumps(metrics))
    (out / "ratios.json").write_text(json.dumps(curve.ratios.to_json()))
    return metrics


def _eval_metrics() -> dict:
    """eval_retrieval's metrics.json of the phonetic baseline at three vocabulary sizes."""
    return {"vocabularies": {"own": 180, "lists": 464, "10000": 10000},
            **{name: {"phonetic": {"exact@1_recall": 0.3}} for name in ("own", "lists", "10000")}}


def test_report_retrieval_renders_the_scale_table_and_plot(tmp_path, capsys):
    results = tmp_path / "results"
    phonemes = _write_curve(results, "glclap_fuzzy", _curve((9, 21, 29, 30)))
    _write_curve(results, "glclap_minilm", _curve((1, 3, 6, 7)))
    (results / "phonetic" / "eval").mkdir(parents=True)
    (results / "phonetic" / "eval" / "metrics.json").write_text(json.dumps(_eval_metrics()))

    assert main(["report_retrieval", "--results", str(results), "--experiments", str(EXPERIMENTS / "retrieval"),
                 "--out", str(tmp_path / "tables.md"), "--plots", str(tmp_path / "plots")]) == 0
    text = (tmp_path / "tables.md").read_text()
    assert "### Data-scale curve: held-out exact R@k by distinct training words (%)" in text
    first = phonemes["points"][0]
    lo, hi = 100 * first["exact@1_recall_ci_lo"], 100 * first["exact@1_recall_ci_hi"]
    assert f"| glclap_fuzzy | 100 | 300 | 22.5 [{lo:.1f}, {hi:.1f}] |" in text
    assert "| glclap_fuzzy | 2130 | 6400 | 75.0 [" in text and "| glclap_minilm | 1500 | 4500 | 15.0 [" in text
    assert "glclap_fuzzy: 40 held-out queries over 464 candidates" in text
    # the vocabulary-scale table names a numbered vocabulary once ("10000", not "10000 (10000)")
    assert "| method | scorer | own (180) | lists (464) | 10000 |" in text and "10000 (10000)" not in text

    assert (tmp_path / "plots" / "retrieval_data_scale.png").stat().st_size > 10_000
    with open(tmp_path / "plots" / "retrieval_data_scale.csv", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 2 * 2 * len(SIZES)  # panels R@1, R@5 x two retrievers x four sizes
    point = next(r for r in rows if (r["panel"], r["series"], r["distinct training words"])
                 == ("R@1", "glclap_fuzzy", "100"))
    assert float(point["exact R@k (%)"]) == 22.5 and float(point["exact R@k (%)_lo"]) == round(lo, 4)
    assert "retrieval_data_scale.png" in capsys.readouterr().out


def test_report_from_mlflow_shows_the_scale_curve(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    curve = _curve((9, 21, 29, 30))
    logger = MLflowLogger("retrieval", "scale-glclap_fuzzy", uri,
                          tags={"stage": "retrieval_scale", "study": "retrieval", "variant": "glclap_fuzzy"})
    logger.log_metrics(curve.flat(INTERVALS))
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "metrics.json").write_text(json.dumps(curve.metrics(INTERVALS)))
    logger.log_artifact(tmp_path / "run" / "metrics.json")
    logger.finish()

    out = tmp_path / "report"
    assert main(["report", "--tracking-uri", uri, "--experiments", str(EXPERIMENTS), "--studies", "retrieval",
                 "--out", str(out), "--no-log", "--print", "none"]) == 0
    report = (out / "report.md").read_text()
    assert "| glclap_fuzzy | 1500 | 4500 | 72.5 [" in report
    assert "![Data-scale curve: held-out exact R@k by distinct training words](plots/retrieval_data_scale.png)" \
        in report
    assert (out / "plots" / "retrieval_data_scale.png").is_file()
    assert (out / "tables" / "retrieval_data_scale.csv").read_text().splitlines()[0].startswith(
        "retriever,training words,examples,R@1,R@1_lo,R@1_hi,R@5")
    summary = json.loads((out / "summary.json").read_text())["studies"]["retrieval"]
    assert summary["tables"]["retrieval_data_scale"] == 4 * 5 and "retrieval_data_scale" in summary["plots"]
