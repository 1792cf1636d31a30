"""Ranking helpers over query×hotword score matrices: deterministic top-k, score fusion and the
fusion chosen on dev queries (``tune_fusion``).

Scores are [Q, V] arrays (Q queries, V vocabulary words); larger is better.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["FUSION_METHODS", "FusionChoice", "calibrated", "fuse", "ranked_words", "top_k", "tune_fusion"]


def _matrix(scores: np.ndarray, name: str) -> np.ndarray:
    scores = np.asarray(scores)
    if scores.ndim != 2:
        raise ValueError(f"{name} must be a [queries, vocabulary] matrix, got shape {scores.shape}")
    if np.isnan(scores).any():
        raise ValueError(f"{name} has NaN at (row, column) {tuple(int(i) for i in np.argwhere(np.isnan(scores))[0])}")
    return scores


def top_k(scores: np.ndarray, k: int, tiebreak: np.ndarray | None = None) -> np.ndarray:
    """Column indices [Q, min(k, V)] of the k best scores per row, best first.

    Order: higher score, then higher ``tiebreak[column]`` when given (a [V] secondary key), then
    lower column index, so equal scores rank deterministically. Per row, a partition finds the
    k-th best score t in O(V), and only the columns scoring >= t (k plus any ties at t) are
    sorted. NaN scores and k < 1 are a ValueError.
    """
    scores = _matrix(scores, "scores")
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    vocabulary = scores.shape[1]
    if tiebreak is not None:
        tiebreak = np.asarray(tiebreak, dtype=np.float64)  # negated below: no unsigned wrap-around
        if tiebreak.shape != (vocabulary,):
            raise ValueError(f"tiebreak must have shape ({vocabulary},), got {tiebreak.shape}")
    k = min(k, vocabulary)
    out = np.empty((scores.shape[0], k), dtype=np.int64)
    for q, row in enumerate(scores if k else ()):
        threshold = np.partition(row, vocabulary - k)[vocabulary - k]
        candidates = np.flatnonzero(row >= threshold)
        secondary = () if tiebreak is None else (-tiebreak[candidates],)
        out[q] = candidates[np.lexsort((candidates, *secondary, -row[candidates]))[:k]]  # last key is primary
    return out


def ranked_words(
    scores: np.ndarray, words: Sequence[str], k: int, tiebreak: np.ndarray | None = None
) -> list[list[str]]:
    """Top-k words per row (``top_k`` order), the ranked lists ``metrics.retrieval`` expects."""
    scores = np.asarray(scores)
    if scores.ndim == 2 and scores.shape[1] != len(words):
        raise ValueError(f"scores have {scores.shape[1]} columns but there are {len(words)} words")
    return [[words[i] for i in row] for row in top_k(scores, k, tiebreak)]


def _min_max_rows(scores: np.ndarray) -> np.ndarray:
    """Each row scaled to [0, 1] by its own min and max; a constant row becomes zeros."""
    scores = scores.astype(np.float64)
    low = scores.min(axis=1, keepdims=True)
    span = scores.max(axis=1, keepdims=True) - low
    return np.divide(scores - low, span, out=np.zeros_like(scores), where=span > 0)


def _z_rows(scores: np.ndarray) -> np.ndarray:
    """Each row standardized to mean 0, standard deviation 1; a constant row becomes zeros."""
    scores = scores.astype(np.float64)
    centered = scores - scores.mean(axis=1, keepdims=True)
    spread = centered.std(axis=1, keepdims=True)
    return np.divide(centered, spread, out=np.zeros_like(scores), where=spread > 0)


def _reciprocal_ranks(scores: np.ndarray, rrf_k: float) -> np.ndarray:
    """1 / (rrf_k + rank) per entry, rank 1 = the row's best score; equal scores share the best
    rank among them (so a tie stays a tie, for ``top_k``'s tie-break to resolve)."""
    out = np.empty(scores.shape, dtype=np.float64)
    for q, row in enumerate(scores):
        descending = np.sort(-row)
        out[q] = 1.0 / (rrf_k + 1.0 + np.searchsorted(descending, -row, side="left"))
    return out


FUSION_METHODS = {"minmax": _min_max_rows, "zscore": _z_rows, "rrf": _reciprocal_ranks}
RRF_K = 60.0  # reciprocal rank fusion's constant (Cormack et al. 2009)


def calibrated(scores: np.ndarray, method: str, rrf_k: float = RRF_K) -> np.ndarray:
    """Row-wise calibration of a [Q, V] score matrix onto a scale shared with another scorer's:
    ``minmax`` (to [0, 1]), ``zscore`` (mean 0, sd 1) or ``rrf`` (1 / (rrf_k + rank)). Each is an
    increasing function of the row's scores, so it keeps the row's ranking and its ties."""
    if method not in FUSION_METHODS:
        raise ValueError(f"fusion method must be one of {list(FUSION_METHODS)}, got {method!r}")
    scores = _matrix(scores, "scores")
    if not np.isfinite(scores).all():
        raise ValueError("fusion needs finite scores (a row's calibration over infinite scores is undefined)")
    return _reciprocal_ranks(scores, rrf_k) if method == "rrf" else FUSION_METHODS[method](scores)


def fuse(a: np.ndarray, b: np.ndarray, weight: float, method: str = "minmax", rrf_k: float = RRF_K) -> np.ndarray:
    """weight·cal(a) + (1 − weight)·cal(b) as float64 [Q, V], cal = ``calibrated(·, method)``
    (default: per-row min-max to [0, 1]; a constant row carries no ranking and becomes zeros).

    For combining a learned retriever (a) with the phonetic baseline (b): the calibration puts
    scores of different scales (cosine, phonetic similarity) on one scale per query. float64
    keeps distinct inputs distinct, so weight 1 (0) ranks exactly as a (b) does. Shapes must
    match; weight outside [0, 1] or non-finite scores are a ValueError.
    """
    a, b = _matrix(a, "a"), _matrix(b, "b")
    if a.shape != b.shape:
        raise ValueError(f"score matrices differ in shape: {a.shape} vs {b.shape}")
    if not 0.0 <= weight <= 1.0:
        raise ValueError(f"weight must be in [0, 1], got {weight}")
    return weight * calibrated(a, method, rrf_k) + (1.0 - weight) * calibrated(b, method, rrf_k)


@dataclass(frozen=True)
class FusionChoice:
    """The fusion a grid search on the dev queries chose, and what it scored there (exact R@1 and
    the mean reciprocal rank of the best-ranked gold hotword; None for a fixed fusion)."""

    method: str
    weight: float
    recall: float | None = None  # the choice's dev exact R@1
    mrr: float | None = None
    learned_recall: float | None = None  # dev exact R@1 of the two inputs alone (weight 1 and 0)
    phonetic_recall: float | None = None
    queries: int = 0  # dev queries (0: fixed, not tuned)

    def as_metrics(self) -> dict:
        """The metrics.json block (``dev_*`` only when tuned)."""
        block: dict = {"method": self.method, "weight": self.weight, "tuned": self.queries > 0}
        if self.queries:
            block.update({"dev_queries": self.queries, "dev_exact@1_recall": self.recall, "dev_mrr": self.mrr,
                          "dev_learned_exact@1_recall": self.learned_recall,
                          "dev_phonetic_exact@1_recall": self.phonetic_recall})
        return block


def _ranks_of_gold(scores: np.ndarray, gold: Sequence[Sequence[int]], tiebreak: np.ndarray | None) -> np.ndarray:
    """[Q] 1-based rank (``top_k`` order) of each query's best-ranked gold column."""
    secondary = np.zeros(scores.shape[1]) if tiebreak is None else np.asarray(tiebreak, dtype=np.float64)
    columns = np.arange(scores.shape[1])
    best = np.empty(len(scores), dtype=np.int64)
    for q, (row, golds) in enumerate(zip(scores, gold)):
        ranks = [int(np.count_nonzero((row > row[g]) | ((row == row[g]) & ((secondary > secondary[g])
                 | ((secondary == secondary[g]) & (columns < g)))))) + 1 for g in golds]
        best[q] = min(ranks) if ranks else scores.shape[1] + 1
    return best


def tune_fusion(learned: np.ndarray, phonetic: np.ndarray, gold: Sequence[Sequence[int]],
                methods: Sequence[str] = tuple(FUSION_METHODS), steps: int = 20, rrf_k: float = RRF_K,
                tiebreak: np.ndarray | None = None) -> FusionChoice:
    """The fusion of ``learned`` and ``phonetic`` [Q, V] dev scores (finite) that maximizes exact
    R@1 over the dev queries, whose gold hotwords are the columns ``gold[q]``.

    Grid: every method of ``methods`` at weights 0, 1/steps, ..., 1 (weight 1 ranks as the learned
    scores alone, weight 0 as the phonetic ones, so the choice is never below the better input on
    dev). Ties on R@1 go to the higher mean reciprocal rank of the best gold hotword (a finer
    measure of the same rankings), then to the weight closest to the better single input (on a
    tie between the inputs: the phonetic baseline), then to the earlier method in ``methods``.
    Deterministic: the same scores give the same choice. Ranking follows ``top_k`` (``tiebreak``).
    """
    learned, phonetic = _matrix(learned, "learned"), _matrix(phonetic, "phonetic")
    if learned.shape != phonetic.shape or len(gold) != learned.shape[0]:
        raise ValueError(f"learned {learned.shape}, phonetic {phonetic.shape} and {len(gold)} gold lists disagree")
    if not methods or steps < 1:
        raise ValueError("tune_fusion needs at least one method and steps >= 1")
    golds = [set(g) for g in gold]
    total = sum(len(g) for g in golds)
    if total == 0:
        raise ValueError("tune_fusion needs dev queries with gold hotwords")

    def evaluate(scores: np.ndarray) -> tuple[float, float]:
        top = top_k(scores, 1, tiebreak)[:, 0]
        recall = sum(int(t in g) for t, g in zip(top, golds)) / total
        return recall, float(np.mean(1.0 / _ranks_of_gold(scores, gold, tiebreak)))

    learned_recall, phonetic_recall = evaluate(learned)[0], evaluate(phonetic)[0]
    better = 1.0 if learned_recall > phonetic_recall else 0.0
    candidates = []
    for order, method in enumerate(methods):
        a, b = calibrated(learned, method, rrf_k), calibrated(phonetic, method, rrf_k)
        for step in range(steps + 1):
            weight = step / steps
            recall, mrr = evaluate(weight * a + (1.0 - weight) * b)
            candidates.append(((-recall, -mrr, abs(weight - better), order), method, weight, recall, mrr))
    key, method, weight, recall, mrr = min(candidates, key=lambda c: c[0])
    return FusionChoice(method, weight, recall, mrr, learned_recall, phonetic_recall, len(gold))
