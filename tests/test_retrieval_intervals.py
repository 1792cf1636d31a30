"""Bootstrap intervals of eval_retrieval's rates: the per-utterance counts behind recall@k,
precision@k and long-form R@k sum to the corpus values, ratios.json reads back, and every
interval lands in metrics.json (nested, as the report reads it) and the tracked metrics."""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import numpy as np
import pytest

from workbench.cli import main
from workbench.data import Utterance
from workbench.data.manifest import SAMPLE_RATE
from workbench.metrics.intervals import UtteranceRatios
from workbench.metrics.options import IntervalConfig
from workbench.metrics.retrieval import ranking_hits, ranking_recall_at_k, retrieval_at_k, retrieval_counts
from workbench.reporting.results import ResultsFile
from workbench.retrieval.evaluation import RetrievalTestSet, VocabularyLists, evaluate_retrieval
from workbench.retrieval.longform import rank_longform, window_id, windows_of
from workbench.retrieval.options import EvalRetrievalConfig

FIXTURES = Path(__file__).resolve().parent / "fixtures"
WORDS = ["Ozempic", "Xarelto", "qwen", "qwen2.5", "llama", "Totoro", "Spiriva", "Wegovy", "Ponyo", "Google"]


def _random_retrieval(seed: int, utterances: int = 40) -> tuple[list[list[str]], list[list[str]]]:
    rng = random.Random(seed)
    gold = [rng.sample(WORDS, rng.randint(1, 3)) for _ in range(utterances)]
    ranked = [rng.sample(WORDS, rng.randint(0, 6)) for _ in range(utterances)]  # some lists shorter than k
    return gold, ranked


@pytest.mark.parametrize("mode", ["exact", "substring"])
@pytest.mark.parametrize("k", [1, 2, 5])
def test_per_utterance_counts_sum_to_the_corpus_numbers(mode, k):
    gold, ranked = _random_retrieval(seed=k)
    counts = retrieval_counts(gold, ranked, k, mode)
    corpus = retrieval_at_k(gold, ranked, k, mode)
    assert len(counts.gold) == len(gold)
    assert (counts.gold.sum(), counts.recalled.sum(), counts.retrieved.sum(), counts.correct.sum()) == \
        (corpus.gold, corpus.recalled, corpus.retrieved, corpus.correct_retrieved)
    ratios = counts.ratios("lists/fused/")
    assert set(ratios) == {f"lists/fused/{mode}@{k}_recall", f"lists/fused/{mode}@{k}_precision"}  # no F1
    for name, (numerator, denominator) in ratios.items():
        assert numerator.sum() / denominator.sum() == corpus.as_metrics("lists/fused/")[name]


def test_per_utterance_counts_by_hand():
    counts = retrieval_counts([["qwen"], ["Xarelto", "Ozempic"]], [["qwen2.5", "llama"], ["Ozempic", "Xarelto"]],
                              1, "substring")
    assert counts.recalled.tolist() == [1, 1] and counts.gold.tolist() == [1, 2]
    assert counts.correct.tolist() == [1, 1] and counts.retrieved.tolist() == [1, 1]


def test_ranking_hits_average_to_ranking_recall():
    scores = np.random.default_rng(0).normal(size=(12, 7))
    gold = [[q % 7] for q in range(12)]
    hits = ranking_hits(scores, gold, (1, 3))
    assert {k: h.mean() for k, h in hits.items()} == ranking_recall_at_k(scores, gold, (1, 3))


def test_longform_ratios_sum_to_q2c_and_c2q():
    clips = [np.zeros(int(seconds * SAMPLE_RATE), dtype=np.float32) for seconds in (3.0, 2.5, 4.0, 1.5, 3.5)]
    windows = windows_of(clips, 2, 2.0)
    ids = [f"utt{i}" for i in range(len(clips))]
    window_ids = [window_id(w, ids, 2) for w in windows]
    sources = [0, 0, 1, 2, 2, 2, 3, 4]  # hotword queries per clip: one utterance has several
    scores = np.random.default_rng(1).normal(size=(len(sources), len(windows)))
    longform = rank_longform(scores, windows, sources, window_ids, (1, 3), 2.0)
    metrics = longform.metrics()
    assert metrics["queries"] == len(sources) and metrics["windows"] == len(windows)

    by_utterance = longform.utterance_ratios(ids, "longform/")
    assert by_utterance.ids == tuple(ids)
    assert by_utterance.metrics["longform/q2c_r@1"][1].tolist() == [2, 1, 3, 1, 1]  # queries per utterance
    by_window = longform.window_ratios("longform/")
    assert len(set(by_window.ids)) == len(windows) and by_window.ids[0] == "utt0@0.000-2.000s"
    for k in (1, 3):
        numerator, denominator = by_utterance.metrics[f"longform/q2c_r@{k}"]
        assert numerator.sum() / denominator.sum() == pytest.approx(metrics[f"q2c_r@{k}"], abs=1e-15)
        assert metrics[f"q2c_r@{k}"] == ranking_recall_at_k(scores, [[w for w, window in enumerate(windows)
                                                                     if s in window.sources] for s in sources],
                                                            (k,))[k]
        numerator, denominator = by_window.metrics[f"longform/c2q_r@{k}"]
        assert numerator.sum() / denominator.sum() == pytest.approx(metrics[f"c2q_r@{k}"], abs=1e-15)


def _test_set(utterances: int = 12) -> RetrievalTestSet:
    hotwords = ["Totoro", "Spiriva", "Wegovy", "Ponyo", "Google", "Ozempic"]
    queries, hypotheses = [], []
    for i in range(utterances):
        words = tuple(hotwords[(i + j) % len(hotwords)] for j in range(1 + i % 2))
        queries.append(Utterance(f"u{i:02d}", f"audio/u{i:02d}.wav", 1.0, " ".join(words), "en", "test", words))
        # half the hypotheses spell a hotword right, the rest garble it
        hypotheses.append(f"we talked about {words[0] if i % 2 else words[0][:3] + 'x'} today")
    return RetrievalTestSet(tuple(queries), tuple(hypotheses), 1, FIXTURES)


def test_evaluation_returns_ratios_and_intervals_of_every_recall_and_precision():
    config = EvalRetrievalConfig(vocabularies=("own", "lists"), ks=(1, 5), longform_clips_per_recording=None,
                                 intervals=IntervalConfig(resamples=200))
    evaluation = evaluate_retrieval(_test_set(), VocabularyLists(("Spiriva", "Xarelto", "Mounjaro")), config)
    ratios = evaluation.ratios
    assert ratios.ids == tuple(f"u{i:02d}" for i in range(12)) and evaluation.window_ratios is None
    expected = {f"{s}/phonetic/{m}@{k}_{r}" for s in ("own", "lists") for m in ("exact", "substring")
                for k in (1, 5) for r in ("recall", "precision")}
    assert set(ratios.metrics) == expected
    metrics = ResultsFile(evaluation.metrics)  # metrics.json read as the report reads it
    for name, (numerator, denominator) in ratios.metrics.items():
        value = metrics.metric(name)
        assert numerator.sum() / denominator.sum() == value
        lo, hi = metrics.metric(f"{name}_ci_lo"), metrics.metric(f"{name}_ci_hi")
        assert lo <= value <= hi
        assert evaluation.tracked[f"{name}_ci_lo"] == lo and evaluation.tracked[f"{name}_ci_hi"] == hi
    assert metrics.metric("lists/phonetic/exact@1_f1_ci_lo") is None  # F1 is no ratio of sums: no interval
    assert metrics.metric("lists/phonetic/exact@1_recall_ci_lo") < metrics.metric("lists/phonetic/exact@1_recall_ci_hi")
    assert " [" in evaluation.table()  # table.md shows R@k with its interval


@pytest.fixture()
def corpus(tmp_path) -> Path:
    shutil.copytree(FIXTURES / "audio", tmp_path / "audio")
    shutil.copy(FIXTURES / "tiny.jsonl", tmp_path / "test.jsonl")
    return tmp_path / "test.jsonl"


def test_stage_writes_ratios_json_and_interval_metrics(corpus, tmp_path):
    vocabulary = tmp_path / "hotwords.txt"
    vocabulary.write_text("Totoro\nSpiriva\nWegovy\n")
    hypotheses = tmp_path / "hyp.jsonl"
    hypotheses.write_text(
        json.dumps({"id": "cmn_eng-0044", "hypothesis": "这个问题你先谷歌一下就知道了"}) + "\n"
        + json.dumps({"id": "en_entities-0101", "hypothesis": "My daughter watches Ponyo every weekend."}) + "\n")
    out = tmp_path / "eval"
    out.mkdir()
    (out / "ratios_longform.json").write_text("{}")  # from an earlier run with long-form: removed
    assert main(["eval_retrieval", "--manifest", str(corpus), "--hypotheses", str(hypotheses), "--vocabulary",
                 str(vocabulary), "--out", str(out), "--set", "vocabularies=[own, lists]",
                 "--set", "intervals.resamples=100", "--set", "tracking.backend=disk",
                 "--set", f"tracking.uri={tmp_path / 'runs'}"]) == 0
    ratios = UtteranceRatios.from_json(json.loads((out / "ratios.json").read_text()), "ratios.json")
    assert ratios.ids == ("cmn_eng-0044", "en_entities-0101")
    assert "lists/phonetic/substring@10_precision" in ratios.metrics
    metrics = ResultsFile.load(out / "metrics.json")
    for name in ratios.metrics:
        assert metrics.metric(f"{name}_ci_lo") <= metrics.metric(name) <= metrics.metric(f"{name}_ci_hi")
    assert not (out / "ratios_longform.json").exists()
