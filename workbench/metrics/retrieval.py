"""Retrieval metrics: hotword recall@k (exact, seed 000; substring, seed 001), precision/recall/F1
at k, and cross-modal ranking R@k (Q→C and C→Q, seed 002).

Hotword matching compares case-folded, whitespace-collapsed strings. Substring recall follows
seed 001: an annotated hotword counts as recalled when it is a substring of a retrieved
candidate ("qwen" is recalled by "qwen2.5"). Precision counts a retrieved candidate as correct
when it matches (same rule) any annotated hotword of the utterance. Corpus values sum hits over
the corpus before dividing (micro average); the per-utterance counts behind them
(``retrieval_counts``, ``ranking_hits``) are what intervals resample, utterance by utterance.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np


def _key(text: str) -> str:
    return " ".join(text.casefold().split())


def _matches(gold: str, candidate: str, mode: str) -> bool:
    if mode == "exact":
        return gold == candidate
    if mode == "substring":
        return gold in candidate
    raise ValueError(f"match mode must be 'exact' or 'substring', got {mode!r}")


@dataclass(frozen=True)
class RetrievalResult:
    k: int
    mode: str
    recall: float
    precision: float
    f1: float
    gold: int
    recalled: int
    retrieved: int
    correct_retrieved: int
    queries: int

    def as_metrics(self, prefix: str = "") -> dict[str, float]:
        tag = f"{prefix}{self.mode}@{self.k}_"
        return {f"{tag}{name}": float(getattr(self, name)) for name in ("recall", "precision", "f1")}


@dataclass(frozen=True)
class RetrievalCounts:
    """Per-utterance counts of the top-k candidates; ``retrieval_at_k`` is their sums."""

    k: int
    mode: str
    gold: np.ndarray  # annotated hotwords (recall's denominator)
    recalled: np.ndarray  # of them matched by a top-k candidate (recall's numerator)
    retrieved: np.ndarray  # top-k candidates (precision's denominator)
    correct: np.ndarray  # of them matching an annotated hotword (precision's numerator)

    def result(self) -> RetrievalResult:
        """Corpus recall, precision and F1: the counts summed over utterances, then divided."""
        gold, recalled, retrieved, correct = (int(a.sum()) for a in (self.gold, self.recalled, self.retrieved,
                                                                       self.correct))
        recall = recalled / gold if gold else float("nan")
        precision = correct / retrieved if retrieved else float("nan")
        f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
        if np.isnan(recall) or np.isnan(precision):
            f1 = float("nan")
        return RetrievalResult(self.k, self.mode, recall, precision, f1, gold, recalled, retrieved, correct,
                               len(self.gold))

    def ratios(self, prefix: str = "") -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Per-utterance (numerator, denominator) of recall and precision, named as ``as_metrics``.
        F1 is not here: a harmonic mean of two corpus ratios is no ratio of sums, so it has no
        per-utterance counts to resample (and no interval)."""
        tag = f"{prefix}{self.mode}@{self.k}_"
        return {f"{tag}recall": (self.recalled, self.gold), f"{tag}precision": (self.correct, self.retrieved)}


def retrieval_counts(
    gold: Sequence[Iterable[str]], ranked: Sequence[Sequence[str]], k: int, mode: str = "exact"
) -> RetrievalCounts:
    """Hotword retrieval counts of the top-k candidates, one entry per utterance."""
    if len(gold) != len(ranked):
        raise ValueError(f"{len(gold)} gold lists but {len(ranked)} ranked lists")
    if k < 1:
        raise ValueError("k must be at least 1")
    rows = []
    for gold_words, candidates in zip(gold, ranked):
        gold_keys = [_key(g) for g in gold_words]
        top = [_key(c) for c in candidates[:k]]
        rows.append((len(gold_keys), sum(1 for g in gold_keys if any(_matches(g, c, mode) for c in top)),
                     len(top), sum(1 for c in top if any(_matches(g, c, mode) for g in gold_keys))))
    columns = np.array(rows, dtype=np.int64).reshape(len(rows), 4).T
    return RetrievalCounts(k, mode, *columns)


def retrieval_at_k(
    gold: Sequence[Iterable[str]], ranked: Sequence[Sequence[str]], k: int, mode: str = "exact"
) -> RetrievalResult:
    """Hotword retrieval quality of the top-k candidates per utterance (corpus sums)."""
    return retrieval_counts(gold, ranked, k, mode).result()


def ranking_hits(scores: np.ndarray, gold: Sequence[Iterable[int]],
                 ks: Sequence[int] = (1, 5, 10)) -> dict[int, np.ndarray]:
    """Per query (row of a query×candidate score matrix): whether a gold candidate is in its top
    k (bool array per k). Ties are broken by candidate index (stable sort)."""
    scores = np.asarray(scores)
    if scores.ndim != 2 or scores.shape[0] != len(gold):
        raise ValueError(f"scores must be (queries, candidates) with {len(gold)} queries, got {scores.shape}")
    order = np.argsort(-scores, axis=1, kind="stable")
    gold_sets = [set(g) for g in gold]
    return {k: np.array([bool(set(order[q, :k].tolist()) & g) for q, g in enumerate(gold_sets)], dtype=bool)
            for k in ks}


def ranking_recall_at_k(scores: np.ndarray, gold: Sequence[Iterable[int]],
                        ks: Sequence[int] = (1, 5, 10)) -> dict[int, float]:
    """R@k for a query×candidate score matrix: share of queries with a gold candidate in the top k
    (the mean of ``ranking_hits``).

    Q→C: ``scores[q, c]`` with gold candidate indices per query. For C→Q pass ``scores.T`` and the
    gold query indices per candidate. Ties are broken by candidate index (stable sort).
    """
    return {k: float(hits.mean()) if len(hits) else float("nan") for k, hits in ranking_hits(scores, gold, ks).items()}
