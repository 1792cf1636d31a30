"""Fusion of learned and phonetic scores tuned on dev queries (ranking.tune_fusion): never below the
better input on dev, deterministic, and weights 0 / 1 rank exactly as the inputs alone."""

from __future__ import annotations

import numpy as np
import pytest

from workbench.retrieval.ranking import FUSION_METHODS, calibrated, fuse, top_k, tune_fusion


def _scores(seed: int = 0, queries: int = 60, words: int = 80):
    """Two noisy scorers of the same queries: each finds the gold word (column q % words) on its
    own for some queries; the phonetic one is coarse (many ties), like the baseline's."""
    rng = np.random.default_rng(seed)
    gold = [[q % words] for q in range(queries)]
    learned = rng.normal(0.0, 1.0, (queries, words))
    phonetic = np.round(rng.uniform(0.0, 1.0, (queries, words)), 1)
    for q, (g,) in enumerate(gold):
        learned[q, g] += rng.uniform(0.5, 3.0)
        phonetic[q, g] = min(1.0, phonetic[q, g] + rng.uniform(0.0, 0.6))
    tiebreak = rng.permutation(words).astype(np.float64)
    return learned.astype(np.float32), phonetic.astype(np.float32), gold, tiebreak


def _recall_at_1(scores, gold, tiebreak) -> float:
    return float(np.mean([t in g for t, g in zip(top_k(scores, 1, tiebreak)[:, 0], gold)]))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_tuned_fusion_is_never_below_the_better_input_on_dev(seed):
    learned, phonetic, gold, tiebreak = _scores(seed)
    choice = tune_fusion(learned, phonetic, gold, tiebreak=tiebreak)
    best_input = max(_recall_at_1(learned, gold, tiebreak), _recall_at_1(phonetic, gold, tiebreak))
    assert (choice.learned_recall, choice.phonetic_recall) == (_recall_at_1(learned, gold, tiebreak),
                                                              _recall_at_1(phonetic, gold, tiebreak))
    assert choice.recall >= best_input
    fused = fuse(learned, phonetic, choice.weight, choice.method)
    assert _recall_at_1(fused, gold, tiebreak) == choice.recall  # what it reports is what the fusion does
    assert choice.recall > best_input  # independent errors: here a blend beats both
    assert 0.0 < choice.weight < 1.0
    assert choice == tune_fusion(learned, phonetic, gold, tiebreak=tiebreak)  # deterministic
    assert choice.as_metrics()["dev_queries"] == len(gold)


def test_ties_go_to_the_better_input_then_to_the_baseline():
    learned, phonetic, gold, tiebreak = _scores(3)
    perfect = np.zeros_like(learned)
    for q, (g,) in enumerate(gold):
        perfect[q, g] = 1.0
    # a perfect learned scorer: every weight near 1 is perfect too; the tie goes to learned alone
    choice = tune_fusion(perfect, phonetic, gold, tiebreak=tiebreak)
    assert (choice.recall, choice.weight, choice.method) == (1.0, 1.0, "minmax")
    # two identical inputs: every fusion ties; the tie between the inputs goes to the phonetic baseline
    choice = tune_fusion(phonetic, phonetic, gold, methods=("rrf", "minmax"), tiebreak=tiebreak)
    assert (choice.weight, choice.method) == (0.0, "rrf")


@pytest.mark.parametrize("method", list(FUSION_METHODS))
def test_weights_one_and_zero_rank_exactly_as_each_input(method):
    learned, phonetic, _, tiebreak = _scores(4)
    learned[:, :5] = learned[:, :1]  # ties in both inputs
    for weight, alone in ((1.0, learned), (0.0, phonetic)):
        np.testing.assert_array_equal(top_k(fuse(learned, phonetic, weight, method), 10, tiebreak),
                                      top_k(alone, 10, tiebreak))


def test_calibrations_keep_each_rows_order_and_ties():
    row = np.array([[3.0, 1.0, 3.0, -2.0, 0.5]])
    np.testing.assert_allclose(calibrated(row, "rrf", rrf_k=0.0), [[1.0, 1 / 3, 1.0, 1 / 5, 1 / 4]])
    z = calibrated(row, "zscore")
    assert abs(z.mean()) < 1e-12 and abs(z.std() - 1.0) < 1e-12
    assert (calibrated(np.ones((1, 4)), "zscore") == 0).all()
    with pytest.raises(ValueError, match="fusion method must be one of"):
        calibrated(row, "softmax")
    with pytest.raises(ValueError, match="finite"):
        calibrated(np.array([[1.0, np.inf]]), "rrf")
