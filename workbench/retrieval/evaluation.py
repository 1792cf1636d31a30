"""Scoring a test set's utterances against hotword vocabularies with a trained retriever.

Vocabularies of every size share one order (gold hotwords, then the project's lists, then
seeded distractors; ``vocabulary.build_vocabulary``), so each smaller vocabulary is a prefix of
the largest: text features are computed once, for the largest, and sliced.

- GLCLAP and CLSR: cosine of the utterance embedding with each hotword embedding.
- CLAR: the same global cosine picks the top-M candidates (FAISS), then the length-aware
  localized window score (``localized.py``) ranks them; words outside the pool rank below.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from workbench.retrieval.index import HotwordIndex
from workbench.retrieval.localized import LengthBuckets, score_buckets
from workbench.retrieval.models import CLAR, Retriever


@torch.no_grad()
def text_features(model: Retriever, words: Sequence[str], batch_size: int = 512, progress=None) -> torch.Tensor:
    """Pooled text-encoder outputs [V, dim] of ``words`` (before projection)."""
    rows = []
    for first in range(0, len(words), batch_size):
        rows.append(model.text_features(words[first : first + batch_size]).float())
        if progress is not None:
            progress.update(min(batch_size, len(words) - first))
    return torch.cat(rows) if rows else torch.empty(0, model.text.dim)


@dataclass(frozen=True)
class ScoredQueries:
    scores: np.ndarray  # [Q, V] float32; -inf outside CLAR's candidate pool
    seconds_per_query: float


@torch.no_grad()
def score_queries(model: Retriever, states: Sequence[torch.Tensor], vocabulary_embeddings: torch.Tensor,
                  words: Sequence[str], clar_candidates: int | None = None) -> ScoredQueries:
    """Scores of each utterance (encoder states [T, d]) against projected, normalized
    ``vocabulary_embeddings`` [V, P]."""
    started = time.perf_counter()
    queries = model.query_embeddings(states)  # [Q, P] global embeddings
    vocab = vocabulary_embeddings.float()
    if not isinstance(model, CLAR):
        scores = (queries @ vocab.T).numpy()
        return ScoredQueries(scores, (time.perf_counter() - started) / max(1, len(states)))
    lengths = model.text_lengths(words)
    scores = np.full((len(states), len(words)), -np.inf, dtype=np.float32)
    pool_all = clar_candidates is None or clar_candidates >= len(words)
    buckets = LengthBuckets.build(vocab, lengths) if pool_all else None
    pools = None if pool_all else HotwordIndex(vocab.numpy(), words).top_candidates(queries.numpy(), clar_candidates)
    for q, utterance in enumerate(states):
        frames, spans = model.alignments(utterance)
        if pool_all:
            scores[q] = score_buckets(frames, spans, buckets).scores.numpy()
        else:
            pool = torch.from_numpy(pools[q])
            local = score_buckets(frames, spans, LengthBuckets.build(vocab[pool], lengths[pool])).scores.numpy()
            scores[q, pools[q]] = local
    return ScoredQueries(scores, (time.perf_counter() - started) / max(1, len(states)))


def finite_floor(scores: np.ndarray) -> np.ndarray:
    """-inf (outside a candidate pool) replaced by the row's finite minimum, for fusion."""
    out = scores.copy()
    for row in out:
        finite = np.isfinite(row)
        row[~finite] = row[finite].min() if finite.any() else 0.0
    return out
