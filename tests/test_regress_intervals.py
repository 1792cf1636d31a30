"""``workbench regress --judge interval``: a change judged against the noise (a paired test on the
runs' per-item ratios, else the baseline's logged interval), with real small ratios files."""

import json

import numpy as np
import pytest

from workbench.cli import build_parser
from workbench.metrics.intervals import UtteranceRatios, interval_metrics

RECALL = "lists/phonetic/exact@1_recall"
ENTRIES = [{"file": "results/eval/metrics.json", "key": "wer", "value": 0.0, "better": "lower"},
           {"file": "results/eval/metrics.json", "key": "lists.phonetic.[exact@1_recall]", "value": 0.0,
            "better": "higher"}]


def write_run(root, errors: list[int], hits: list[int], with_ratios: bool = True, ids: list[str] | None = None):
    """A stage's output as evaluate writes it: metrics.json (values and their intervals, the recall
    nested as the retrieval stage nests it) and ratios.json beside it. 10 words per utterance."""
    ids = ids or [f"u{i}" for i in range(len(errors))]
    ones = np.ones(len(errors))
    ratios = UtteranceRatios(tuple(ids), {"wer": (np.array(errors, float), 10 * ones),
                                          RECALL: (np.array(hits, float), ones)})
    bounds = interval_metrics(ratios.intervals())
    wer, recall = sum(errors) / (10 * len(errors)), sum(hits) / len(hits)
    metrics = {"wer": wer, "wer_ci_lo": bounds["wer_ci_lo"], "wer_ci_hi": bounds["wer_ci_hi"],
               "lists": {"phonetic": {"exact@1_recall": recall,
                                      "exact@1_recall_ci_lo": bounds[f"{RECALL}_ci_lo"],
                                      "exact@1_recall_ci_hi": bounds[f"{RECALL}_ci_hi"]}}}
    out = root / "results" / "eval"
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.json").write_text(json.dumps(metrics), encoding="utf-8")
    (out / "ratios.json").unlink(missing_ok=True)
    if with_ratios:
        (out / "ratios.json").write_text(json.dumps(ratios.to_json()), encoding="utf-8")


def regress(*argv: str) -> int:
    args = build_parser().parse_args(["regress", *argv])
    return args._run(args)


BASE_ERRORS = [1, 2] * 20  # WER 15 % on 40 utterances
BASE_HITS = [1, 1, 0, 1] * 10  # recall 75 %


@pytest.fixture()
def recorded(tmp_path, monkeypatch):
    """The baseline recorded from a run that wrote ratios.json and logged intervals."""
    monkeypatch.chdir(tmp_path)  # no params.yaml here: the built-in defaults
    write_run(tmp_path, BASE_ERRORS, BASE_HITS)
    baseline = tmp_path / "baseline.json"
    baseline.write_text(json.dumps({"metrics": ENTRIES}), encoding="utf-8")
    assert regress("--baseline", str(baseline), "--record") == 0
    return baseline


def judge(baseline, *extra: str) -> list[str]:
    return ["--baseline", str(baseline), "--judge", "interval", "--set", "intervals.resamples=500", *extra]


def test_record_keeps_values_intervals_and_the_guarded_ratios(recorded):
    stored = json.loads(recorded.read_text())
    wer, recall = stored["metrics"]
    assert wer["value"] == 0.15 and wer["ci_lo"] < 0.15 < wer["ci_hi"]
    assert recall["value"] == 0.75 and recall["ci_lo"] < 0.75 < recall["ci_hi"]
    ratios = stored["ratios"]["results/eval/ratios.json"]
    assert set(ratios["metrics"]) == {"wer", RECALL} and len(ratios["ids"]) == 40


def test_a_planted_regression_is_caught_by_the_paired_test(recorded, tmp_path, capsys):
    write_run(tmp_path, [3] * 40, BASE_HITS)  # WER 15 % -> 30 % on every utterance
    out = tmp_path / "regress.json"
    assert regress(*judge(recorded, "--out", str(out))) == 1
    captured = capsys.readouterr()
    wer_line = next(line for line in captured.out.splitlines() if ":wer " in line)
    assert wer_line.startswith("REGRESSED") and "paired test: Δ +0.1500" in wer_line
    assert "1 of 2 metric(s) regressed: results/eval/metrics.json:wer (paired)" in captured.err
    checks = json.loads(out.read_text())["checks"]
    assert checks[0]["rule"] == "paired" and checks[0]["p"] < 0.05 and checks[0]["regressed"]
    assert checks[1]["rule"] == "paired" and checks[1]["delta"] == 0 and not checks[1]["regressed"]


def test_a_change_within_the_noise_is_not_a_regression(recorded, tmp_path, capsys):
    errors, hits = list(BASE_ERRORS), list(BASE_HITS)
    errors[0] += 1
    errors[5] += 1  # two more word errors in 400: WER 15.0 % -> 15.5 %
    hits[0] = 0  # one hotword fewer: recall 75.0 % -> 72.5 %
    write_run(tmp_path, errors, hits)
    assert regress(*judge(recorded)) == 0
    printed = capsys.readouterr().out
    assert printed.count("ok        results/eval/metrics.json:") == 2 and "paired test" in printed
    assert "all 2 metric(s) within noise" in printed
    assert regress("--baseline", str(recorded)) == 1  # the fixed tolerance (0) flags both


def test_a_significant_improvement_is_no_regression(recorded, tmp_path):
    write_run(tmp_path, [0] * 40, [1] * 40)
    assert regress(*judge(recorded)) == 0


def test_without_ratios_the_baseline_interval_decides(recorded, tmp_path, capsys):
    write_run(tmp_path, [2] * 20 + [1] * 20, BASE_HITS, with_ratios=False)  # inside the interval (15 %)
    assert regress(*judge(recorded)) == 0
    assert "baseline interval [" in capsys.readouterr().out
    write_run(tmp_path, [3] * 40, [0] * 40, with_ratios=False)  # far outside, on the bad side of both
    assert regress(*judge(recorded)) == 1
    assert "2 of 2 metric(s) regressed" in capsys.readouterr().err
    write_run(tmp_path, [0] * 40, [1] * 40, with_ratios=False)  # outside, on the good side
    assert regress(*judge(recorded)) == 0


def test_other_items_fall_back_to_the_interval_and_say_why(recorded, tmp_path, capsys):
    write_run(tmp_path, [3] * 40, BASE_HITS, ids=[f"v{i}" for i in range(40)])
    assert regress(*judge(recorded)) == 1
    line = next(line for line in capsys.readouterr().out.splitlines() if ":wer " in line)
    assert "baseline interval" in line and "no paired test: the run covers other items" in line


def test_nothing_recorded_falls_back_to_the_tolerance(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    write_run(tmp_path, BASE_ERRORS, BASE_HITS, with_ratios=False)
    baseline = tmp_path / "baseline.json"
    baseline.write_text(json.dumps({"metrics": [{**ENTRIES[0], "value": 0.14}]}), encoding="utf-8")
    assert regress(*judge(baseline, "--tolerance", "0.02")) == 0
    assert "tolerance 0.0200; no interval or ratios recorded" in capsys.readouterr().out
    assert regress(*judge(baseline)) == 1


@pytest.mark.parametrize("document, message", [
    ({"metrics": [{**ENTRIES[0], "ci_lo": 0.1}]}, "needs both ci_lo and ci_hi"),
    ({"metrics": ENTRIES, "ratios": []}, "field 'ratios' must map"),
    ({"metrics": ENTRIES, "ratios": {"results/eval/ratios.json": {"format": "x"}}}, "not a per-item ratios file"),
])
def test_bad_baselines_are_named(tmp_path, monkeypatch, capsys, document, message):
    from workbench.cli import main

    monkeypatch.chdir(tmp_path)
    baseline = tmp_path / "baseline.json"
    baseline.write_text(json.dumps(document), encoding="utf-8")
    assert main(["regress", "--baseline", str(baseline), "--judge", "interval"]) == 2
    err = capsys.readouterr().err
    assert message in err and err.startswith("workbench regress: ") and "Traceback" not in err
