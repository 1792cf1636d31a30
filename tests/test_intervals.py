"""Bootstrap intervals and paired tests (workbench/metrics/intervals.py) and ``workbench compare``."""

import csv
import json
import math

import numpy as np
import pytest

from workbench.cli import main
from workbench.errors import InputError
from workbench.metrics.intervals import (
    bootstrap_intervals,
    compare_corpora,
    corpus_intervals,
    corpus_ratios,
    count_matrix,
    paired_differences,
)
from workbench.metrics.options import IntervalConfig
from workbench.metrics.scorer import Reference, Scorer
from workbench.reporting.table import interval_cell


def synthetic(rng, utterances, rate):
    """Per-utterance (errors, tokens): 5-20 tokens each, every token wrong with probability ``rate``
    (the corpus rate's true value)."""
    tokens = rng.integers(5, 21, size=utterances)
    return rng.binomial(tokens, rate), tokens


def test_interval_covers_the_truth_at_the_nominal_rate():
    rng = np.random.default_rng(123)
    covered = 0
    for replication in range(200):
        errors, tokens = synthetic(rng, 100, 0.12)
        interval = bootstrap_intervals({"wer": (errors, tokens)}, IntervalConfig(seed=replication))["wer"]
        assert interval.lo <= interval.value <= interval.hi
        covered += interval.lo <= 0.12 <= interval.hi
    assert 0.90 <= covered / 200 <= 0.99


@pytest.mark.parametrize("test", ["bootstrap", "permutation"])
def test_paired_test_detects_a_planted_difference_and_not_a_null_one(test):
    rng = np.random.default_rng(7)
    detected = false_alarms = 0
    for replication in range(40):
        config = IntervalConfig(resamples=500, seed=replication, test=test)
        tokens = rng.integers(5, 21, size=150)
        baseline = rng.binomial(tokens, 0.10)
        better = rng.binomial(tokens, 0.05)  # planted: half the errors
        same = rng.binomial(tokens, 0.10)  # null: another draw of the same system
        planted = paired_differences({"wer": (baseline, tokens)}, {"wer": (better, tokens)}, config)["wer"]
        null = paired_differences({"wer": (baseline, tokens)}, {"wer": (same, tokens)}, config)["wer"]
        detected += planted.significant(0.05) and planted.hi < 0
        false_alarms += null.significant(0.05)
        assert null.lo <= null.delta <= null.hi
    assert detected == 40
    assert false_alarms <= 6  # p > 0.05 in most replications (≈ 5 % expected to fall below)


def scored(hypotheses):
    refs = [Reference(f"u{i}", "my doctor prescribed xarelto for the pain", "en", ("xarelto",)) for i in range(30)]
    return Scorer().score_corpus(list(zip(refs, hypotheses)))


def hyps(pattern):
    good, bad = "my doctor prescribed xarelto for the pain", "my doctor prescribed zarelto for pain"
    return [bad if pattern(i) else good for i in range(30)]


def same(a, b):
    return a == b or (math.isnan(a) and math.isnan(b))


def test_corpus_values_are_the_scorers_and_identical_systems_differ_by_nothing():
    corpus = scored(hyps(lambda i: i % 3 == 0))
    metrics = corpus.as_metrics()
    for name, interval in corpus_intervals(corpus).items():
        assert same(interval.value, metrics[name]), name
        if not math.isnan(interval.value):
            assert interval.lo <= interval.value <= interval.hi
    for test in ("bootstrap", "permutation"):
        comparison = compare_corpora(corpus, corpus, IntervalConfig(test=test))
        for name, d in comparison.differences.items():
            if math.isnan(d.a.value):
                assert math.isnan(d.p)
                continue
            assert d.delta == d.lo == d.hi == 0 and d.p == 1.0, name
            assert not d.significant(comparison.level)


def test_same_seed_same_intervals_and_both_scoring_paths_agree():
    hypotheses = hyps(lambda i: i % 4 == 1)
    corpus = scored(hypotheses)
    config = IntervalConfig(resamples=300, seed=5)
    first, again = corpus_intervals(corpus, config), corpus_intervals(corpus, config)
    assert first["wer"] == again["wer"] and first["ker"] == again["ker"]
    assert corpus_intervals(corpus, IntervalConfig(resamples=300, seed=6))["wer"] != first["wer"]
    refs = [Reference(f"u{i}", "my doctor prescribed xarelto for the pain", "en", ("xarelto",)) for i in range(30)]
    kept = Scorer().score_corpus(list(zip(refs, hypotheses)), keep_utterances=True)
    assert (count_matrix(kept) == count_matrix(corpus)).all()
    ratios = corpus_ratios(count_matrix(corpus))
    assert set(ratios) <= set(corpus.as_metrics())
    spaced = Scorer(cer_spaces=True).score_corpus(list(zip(refs, hypotheses)))  # jiwer's CER: spaces counted
    assert corpus_intervals(spaced)["cer"].value == spaced.cer != corpus.cer


def test_bad_inputs_and_settings_are_refused():
    with pytest.raises(ValueError, match="resamples"):
        IntervalConfig(resamples=0)
    with pytest.raises(ValueError, match="confidence"):
        IntervalConfig(confidence=1.0)
    with pytest.raises(ValueError, match="test"):
        IntervalConfig(test="t-test")
    with pytest.raises(InputError, match="different utterances"):
        paired_differences({"wer": ([1, 2], [3, 3])}, {"wer": ([1], [3])})
    with pytest.raises(InputError, match="no utterances"):
        bootstrap_intervals({"wer": ([], [])})


def test_interval_cell():
    assert interval_cell(0.116, 0.089, 0.145) == "11.60 [8.90, 14.50]"
    assert interval_cell(float("nan"), float("nan"), float("nan")) == "–"
    assert interval_cell(0.5, float("nan"), float("nan")) == "50.00"


def write(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def test_compare_command_end_to_end(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # no params.yaml here: the built-in defaults
    refs = write(tmp_path / "ref.jsonl", [{"id": f"u{i}", "text": "my doctor prescribed xarelto for the pain",
                                           "hotwords": ["xarelto"]} for i in range(30)])
    a = write(tmp_path / "a.jsonl", [{"id": f"u{i}", "hypothesis": h} for i, h in enumerate(hyps(lambda i: i % 2))])
    b = write(tmp_path / "b.jsonl", [{"id": f"u{i}", "hypothesis": h} for i, h in enumerate(hyps(lambda i: i == 3))])
    out = tmp_path / "cmp"
    argv = ["compare", "--ref", str(refs), "--hyp-a", str(a), "--hyp-b", str(b), "--out", str(out)]
    assert main(argv + ["--set", "intervals.resamples=400"]) == 0
    printed = capsys.readouterr().out
    assert "| metric | A [95 % CI] | B [95 % CI] | Δ = B − A [95 % CI] | p |" in printed
    wer_line = next(line for line in printed.splitlines() if line.startswith("| wer |"))
    assert wer_line.endswith(" * |") and "[" in wer_line  # 14 of 30 utterances fixed: significant
    rows = list(csv.DictReader((out / "compare.csv").open(encoding="utf-8")))
    assert {"a_lo", "a_hi", "b_lo", "b_hi", "delta", "delta_lo", "delta_hi", "delta_p"} <= set(rows[0])
    wer = next(row for row in rows if row["metric"] == "wer")
    assert float(wer["delta_lo"]) <= float(wer["delta"]) <= float(wer["delta_hi"]) < 0
    payload = json.loads((out / "compare.json").read_text(encoding="utf-8"))
    assert payload["resamples"] == 400 and payload["delta"]["wer_p"] < 0.05 and payload["a"]["pier"] is None

    assert main(["compare", "--ref", str(refs), "--hyp-a", str(a), "--hyp-b", str(a)]) == 0
    assert "| 0.00 [0.00, 0.00] | 1.000 |" in capsys.readouterr().out

    write(b, [{"id": "u0", "hypothesis": "x"}])
    assert main(argv) == 2
    assert "ids do not match" in capsys.readouterr().err
    assert main(argv[:-2] + ["--set", "intervals.confidence=2"]) == 2
    assert "confidence" in capsys.readouterr().err


def test_corpus_rates_name_every_ratio():
    from workbench.metrics.intervals import CORPUS_RATES
    from workbench.metrics.kernel import COLUMNS

    assert tuple(corpus_ratios(np.zeros((1, len(COLUMNS)), dtype=np.int64))) == CORPUS_RATES
