"""Retrieval metrics: hotword recall@k (exact, seed 000; substring, seed 001), precision/recall/F1
at k, and cross-modal ranking R@k (Q→C and C→Q, seed 002).

Hotword matching compares case-folded, whitespace-collapsed strings. Substring recall follows
seed 001: an annotated hotword counts as recalled when it is a substring of a retrieved
candidate ("qwen" is recalled by "qwen2.5"). Precision counts a retrieved candidate as correct
when it matches (same rule) any annotated hotword of the utterance. Corpus values sum hits over
the corpus before dividing (micro average).
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


def retrieval_at_k(
    gold: Sequence[Iterable[str]], ranked: Sequence[Sequence[str]], k: int, mode: str = "exact"
) -> RetrievalResult:
    """Hotword retrieval quality of the top-k candidates per utterance."""
    if len(gold) != len(ranked):
        raise ValueError(f"{len(gold)} gold lists but {len(ranked)} ranked lists")
    if k < 1:
        raise ValueError("k must be at least 1")
    total_gold = recalled = retrieved = correct = 0
    for gold_words, candidates in zip(gold, ranked):
        gold_keys = [_key(g) for g in gold_words]
        top = [_key(c) for c in candidates[:k]]
        total_gold += len(gold_keys)
        recalled += sum(1 for g in gold_keys if any(_matches(g, c, mode) for c in top))
        retrieved += len(top)
        correct += sum(1 for c in top if any(_matches(g, c, mode) for g in gold_keys))
    recall = recalled / total_gold if total_gold else float("nan")
    precision = correct / retrieved if retrieved else float("nan")
    f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    if np.isnan(recall) or np.isnan(precision):
        f1 = float("nan")
    return RetrievalResult(k, mode, recall, precision, f1, total_gold, recalled, retrieved, correct, len(gold))


def ranking_recall_at_k(scores: np.ndarray, gold: Sequence[Iterable[int]],
                        ks: Sequence[int] = (1, 5, 10)) -> dict[int, float]:
    """R@k for a query×candidate score matrix: share of queries with a gold candidate in the top k.

    Q→C: ``scores[q, c]`` with gold candidate indices per query. For C→Q pass ``scores.T`` and the
    gold query indices per candidate. Ties are broken by candidate index (stable sort).
    """
    scores = np.asarray(scores)
    if scores.ndim != 2 or scores.shape[0] != len(gold):
        raise ValueError(f"scores must be (queries, candidates) with {len(gold)} queries, got {scores.shape}")
    order = np.argsort(-scores, axis=1, kind="stable")
    out = {}
    for k in ks:
        top = order[:, :k]
        hits = [bool(set(top[q].tolist()) & set(g)) for q, g in enumerate(gold)]
        out[k] = float(np.mean(hits)) if hits else float("nan")
    return out
