"""Ranking helpers over query×hotword score matrices: deterministic top-k and score fusion.

Scores are [Q, V] arrays (Q queries, V vocabulary words); larger is better.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["fuse", "ranked_words", "top_k"]


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


def fuse(a: np.ndarray, b: np.ndarray, weight: float) -> np.ndarray:
    """weight·norm(a) + (1 − weight)·norm(b) as float32 [Q, V], norm = per-row min-max to [0, 1].

    For combining a learned retriever (a) with the phonetic baseline (b): min-max puts scores of
    different scales (cosine, phonetic similarity) on one scale per query; a constant row carries
    no ranking information and becomes zeros. Shapes must match; weight outside [0, 1] or
    non-finite scores are a ValueError.
    """
    a, b = _matrix(a, "a"), _matrix(b, "b")
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise ValueError("fuse needs finite scores (min-max of an infinite row is undefined)")
    if a.shape != b.shape:
        raise ValueError(f"score matrices differ in shape: {a.shape} vs {b.shape}")
    if not 0.0 <= weight <= 1.0:
        raise ValueError(f"weight must be in [0, 1], got {weight}")
    return (weight * _min_max_rows(a) + (1.0 - weight) * _min_max_rows(b)).astype(np.float32)
