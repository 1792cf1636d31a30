"""Exact cosine top-k over hotword embeddings with FAISS (``IndexFlatIP``).

Cosine similarity of query q and hotword h is the inner product of the L2-normalized vectors,
cos(q, h) = <q/|q|, h/|h|>, so an exact (brute-force, no approximation) inner-product index over
normalized hotword embeddings returns the cosine top-k. At 100k × 512 float32 that is ~200 MB
and one BLAS matrix product per query batch, fast enough that no approximate index is needed.

Threads: FAISS uses OpenMP with its default thread count (all cores). The setting is
process-wide (``faiss.omp_set_num_threads``), so this module leaves it to the caller rather than
changing it for everyone when an index is built.

Ties between equal scores come back in FAISS's order, which is not specified; use
``ranking.top_k`` on a full score matrix where tie order matters.
"""

from __future__ import annotations

from collections.abc import Sequence

import faiss
import numpy as np

from workbench.retrieval.vocabulary import check_unique

__all__ = ["HotwordIndex"]


def _as_matrix(values, name: str, dim: int | None = None) -> np.ndarray:
    """A float32 C-contiguous [N, D] copy; accepts numpy arrays and (CPU or GPU) torch tensors."""
    if hasattr(values, "detach"):  # torch.Tensor, without importing torch here
        values = values.detach().cpu().numpy()
    matrix = np.array(values, dtype=np.float32, order="C", copy=True)
    if matrix.ndim != 2:
        raise ValueError(f"{name} must be a 2-D [rows, dim] array, got shape {matrix.shape}")
    if dim is not None and matrix.shape[1] != dim:
        raise ValueError(f"{name} have dimension {matrix.shape[1]}, the index has {dim}")
    bad = np.flatnonzero(~np.isfinite(matrix).all(axis=1))
    if len(bad):
        raise ValueError(f"{name} row(s) {bad[:5].tolist()} contain NaN or inf")
    return matrix


class HotwordIndex:
    """Exact cosine top-k of query embeddings against a fixed hotword vocabulary.

    ``embeddings`` [V, D] are copied and L2-normalized. An empty vocabulary, a count that differs
    from ``words``, non-finite or all-zero rows (no direction, so no cosine), and two words with
    the same ``hotword_key`` are a ValueError (VocabularyError for the words).
    """

    def __init__(self, embeddings, words: Sequence[str]) -> None:
        matrix = _as_matrix(embeddings, "embeddings")
        if matrix.shape[0] == 0:
            raise ValueError("HotwordIndex needs at least one hotword embedding")
        if matrix.shape[0] != len(words):
            raise ValueError(f"{matrix.shape[0]} embeddings but {len(words)} words")
        check_unique(words, "index words")
        zero = np.flatnonzero(~np.any(matrix, axis=1))
        if len(zero):
            raise ValueError(f"embedding row(s) {zero[:5].tolist()} are all zero (cosine undefined)")
        faiss.normalize_L2(matrix)
        self.words = tuple(words)
        self.dim = matrix.shape[1]
        self._index = faiss.IndexFlatIP(self.dim)
        self._index.add(matrix)

    def __len__(self) -> int:
        return len(self.words)

    def search(self, queries, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(cosine scores [Q, k'] float32, word indices [Q, k'] int64), best first; k' = min(k, V).

        An all-zero query has no direction and scores 0 against every word.
        """
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        matrix = _as_matrix(queries, "queries", self.dim)
        faiss.normalize_L2(matrix)  # leaves all-zero rows at zero
        return self._index.search(matrix, min(k, len(self.words)))

    def ranked_words(self, queries, k: int) -> list[list[str]]:
        """Top-k hotwords per query, best first (feeds ``metrics.retrieval.retrieval_at_k``)."""
        _, indices = self.search(queries, k)
        return [[self.words[i] for i in row] for row in indices]

    def top_candidates(self, queries, m: int) -> np.ndarray:
        """Indices [Q, min(m, V)] of each query's m nearest words: the candidate pool that a
        costlier scorer (a reranker, or ``ranking.fuse`` with the phonetic baseline) restricts
        itself to instead of the whole vocabulary."""
        return self.search(queries, m)[1]
