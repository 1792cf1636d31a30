"""CLAR's length-aware localized scoring (seed 000 Eq. 5-6).

A hotword of L text tokens is compared with every window of L consecutive CIF tokens. Window p
(p = 0..N−L) spans the frames first(p)..last(p+L−1) (``CifOutput.token_spans``); its score is
the mean over those frames of cos(frame, hotword), times a logit scale τ; the hotword's score is
the maximum over windows.

With L2-normalized frames f_t and hotword embedding e, mean_t cos(f_t, e) = e · mean_t f_t: the
mean of cosines is the dot product with the window's mean frame vector. So, per distinct length L,
the N−L+1 window means come from prefix sums over frames in O(N·D), and all hotwords of that
length are scored by one matmul [n_L, D] @ [D, N−L+1] followed by a max over windows; a frame-level
computation costs T·D per hotword instead of (N−L+1)·D.

Rules:
- a hotword longer than the utterance (L > N) is clamped to L = N: its one window is the whole
  utterance's token span first(0)..last(N−1);
- an utterance with no CIF token (audio shorter than one token) has one window, all its frames:
  every hotword gets its global cosine with the mean frame (position 0);
- an empty vocabulary returns empty results; token lengths below 1 are a ValueError.

Scoring is inference-time (no autograd); training pools hotword spans with ``pool_token_span``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

ArrayLike = Tensor | np.ndarray
CHUNK_SIZE = 32_768  # hotwords per matmul: bounds the [chunk, W] block to 32k·N floats (4 MB at N = 30)


@dataclass(frozen=True)
class LocalizedScores:
    """Per hotword: ``scores`` [V] float32 = τ · max over windows of the mean frame cosine, and
    ``positions`` [V] long = the first CIF token of the best window (first maximum on ties)."""

    scores: Tensor
    positions: Tensor


@dataclass(frozen=True)
class LengthBuckets:
    """A vocabulary grouped by token length, built once per vocabulary and reused per utterance.

    ``embeddings`` [V, D] float32 holds the hotwords sorted by length (stable), so each length's
    hotwords are the contiguous rows ``offsets[i]:offsets[i+1]`` and need no gather per utterance;
    ``order`` [V] maps a sorted row to its original index and ``rank`` [V] (its inverse) an
    original index to its sorted row.
    """

    embeddings: Tensor
    order: Tensor
    rank: Tensor
    lengths: tuple[int, ...]  # distinct token lengths, ascending
    offsets: tuple[int, ...]  # len(lengths) + 1 row boundaries

    @classmethod
    def build(cls, text: ArrayLike, lengths: ArrayLike) -> LengthBuckets:
        """``text`` [V, D] normalized hotword embeddings, ``lengths`` [V] token counts (≥ 1)."""
        text, lengths = _check_vocabulary(text, lengths)
        sorted_lengths, order = torch.sort(lengths, stable=True)
        distinct, counts = torch.unique_consecutive(sorted_lengths, return_counts=True)
        offsets = np.concatenate([[0], np.cumsum(counts.numpy())]).tolist()
        rank = torch.empty_like(order)
        rank[order] = torch.arange(len(order))
        return cls(torch.index_select(text, 0, order), order, rank, tuple(distinct.tolist()), tuple(offsets))


def _window_means(prefix: Tensor, spans: Tensor, length: int) -> Tensor:
    """[W, D] float32 mean frame vector of each window of ``length`` CIF tokens, by the module's
    rules (W = N − L + 1 with L clamped to N; W = 1 if N = 0), from ``prefix`` [T + 1, D]."""
    n_tokens = len(spans)
    if n_tokens == 0:
        first, last = spans.new_zeros(1), spans.new_full((1,), len(prefix) - 2)
    else:
        length = min(length, n_tokens)
        first, last = spans[: n_tokens - length + 1, 0], spans[length - 1 :, 1]
    # float64 prefix sums: differences of long float32 running sums would lose digits
    return ((prefix[last + 1] - prefix[first]) / (last - first + 1)[:, None]).float()


@torch.no_grad()
def score_buckets(
    frames: ArrayLike, spans: ArrayLike, buckets: LengthBuckets, logit_scale: float = 1.0, *,
    chunk_size: int = CHUNK_SIZE,
) -> LocalizedScores:
    """Localized scores of a bucketed vocabulary for one utterance: ``frames`` [T, D] normalized
    frame embeddings, ``spans`` [N, 2] its CIF token spans (first, last frame; real tokens only)."""
    frames, spans = _check_utterance(frames, spans, buckets.embeddings.shape[1], logit_scale)
    sorted_scores = torch.empty(len(buckets.embeddings))
    sorted_positions = torch.empty(len(buckets.embeddings), dtype=torch.long)
    prefix = torch.cat([frames.new_zeros(1, frames.shape[1], dtype=torch.float64), frames.double().cumsum(0)])
    for i, length in enumerate(buckets.lengths):
        windows = _window_means(prefix, spans, length).T  # [D, W]
        for start in range(buckets.offsets[i], buckets.offsets[i + 1], chunk_size):
            stop = min(start + chunk_size, buckets.offsets[i + 1])
            # max then copy: torch.max(..., out=slices) measured ~4x slower than this
            best, position = torch.max(buckets.embeddings[start:stop] @ windows, dim=1)  # over [chunk, W]
            sorted_scores[start:stop], sorted_positions[start:stop] = best, position
    # back to the caller's order by a gather (index_select), ~3x faster than scattering by ``order``
    scores = torch.index_select(sorted_scores, 0, buckets.rank)
    if logit_scale != 1.0:
        scores *= logit_scale
    return LocalizedScores(scores, torch.index_select(sorted_positions, 0, buckets.rank))


def normalize_by_length(scores: ArrayLike, lengths: ArrayLike, min_count: int = 5) -> Tensor:
    """One utterance's localized ``scores`` [V] standardized per hotword token length: each length
    with at least ``min_count`` hotwords by its own mean and standard deviation over them, the
    others (and a length whose scores are all equal) by the whole vocabulary's.

    The max over windows favours short hotwords: a short window has more positions to peak at and
    averages fewer frames, so its maximum runs higher and wider by chance. Standardizing within a
    length compares each hotword with the hotwords of its own length (cohort normalization) and
    keeps the order within a length. Scores of hotwords outside a candidate pool (-inf) stay -inf
    and take no part in the statistics."""
    scores = torch.as_tensor(scores).double()
    lengths = torch.as_tensor(lengths).long()
    if scores.shape != lengths.shape or scores.dim() != 1:
        raise ValueError(f"scores and lengths must both be [V], got {tuple(scores.shape)} and {tuple(lengths.shape)}")
    finite = torch.isfinite(scores)
    out = scores.clone()
    if int(finite.sum()) < 2:
        return out.float()

    def standardized(values: Tensor, reference: Tensor) -> Tensor | None:
        spread = reference.std(unbiased=False)
        return (values - reference.mean()) / spread if spread > 0 else None

    pooled = scores[finite]
    for length in torch.unique(lengths[finite]).tolist():
        rows = finite & (lengths == length)
        own = standardized(scores[rows], scores[rows]) if int(rows.sum()) >= min_count else None
        fallback = standardized(scores[rows], pooled)
        out[rows] = own if own is not None else fallback if fallback is not None else scores[rows] - pooled.mean()
    return out.float()


def localized_scores(
    frames: ArrayLike, spans: ArrayLike, text: ArrayLike, lengths: ArrayLike, logit_scale: float = 1.0
) -> LocalizedScores:
    """Localized scores of ``text`` [V, D] (normalized) with token ``lengths`` [V] for one
    utterance (see ``score_buckets``). Bucketing costs a copy of ``text``; to score many
    utterances against one vocabulary, build ``LengthBuckets`` once and call ``score_buckets``."""
    return score_buckets(frames, spans, LengthBuckets.build(text, lengths), logit_scale)


@torch.no_grad()
def naive_localized_scores(
    frames: ArrayLike, spans: ArrayLike, text: ArrayLike, lengths: ArrayLike, logit_scale: float = 1.0
) -> LocalizedScores:
    """The frame-level reference for ``localized_scores``: the full [V, T] cosine matrix, then for
    each hotword and window position the mean of the window's frame cosines, max over positions.
    Same rules and results (up to float rounding); a baseline, slow by design."""
    text, lengths = _check_vocabulary(text, lengths)
    frames, spans = _check_utterance(frames, spans, text.shape[1], logit_scale)
    cosines = (text @ frames.T).numpy()  # [V, T]
    n_tokens, n_frames = len(spans), frames.shape[0]
    firsts, lasts = spans[:, 0].tolist(), spans[:, 1].tolist()
    scores, positions = np.empty(len(text), dtype=np.float32), np.zeros(len(text), dtype=np.int64)
    for j, length in enumerate(lengths.tolist()):
        if n_tokens == 0:
            windows = [(0, n_frames - 1)]
        else:
            length = min(length, n_tokens)
            windows = [(firsts[p], lasts[p + length - 1]) for p in range(n_tokens - length + 1)]
        best = -np.inf
        for p, (first, last) in enumerate(windows):
            value = cosines[j, first : last + 1].mean()
            if value > best:
                best, positions[j] = value, p
        scores[j] = best
    return LocalizedScores(torch.from_numpy(scores) * logit_scale, torch.from_numpy(positions))


def pool_token_span(frames: Tensor, spans: Tensor, first_token: int, last_token: int) -> Tensor:
    """[D] mean of frames first(first_token)..last(last_token): the acoustic span of CIF tokens
    first_token..last_token inclusive (e.g. a hotword's tokens, for the local span loss). Not
    re-normalized; differentiable w.r.t. ``frames``."""
    if not 0 <= first_token <= last_token < len(spans):
        raise ValueError(f"token range {first_token}..{last_token} is outside the utterance's {len(spans)} CIF tokens")
    return frames[int(spans[first_token, 0]) : int(spans[last_token, 1]) + 1].mean(dim=0)


def _check_vocabulary(text: ArrayLike, lengths: ArrayLike) -> tuple[Tensor, Tensor]:
    text, lengths = torch.as_tensor(text).float(), torch.as_tensor(lengths).long()
    if text.dim() != 2 or lengths.shape != (text.shape[0],):
        raise ValueError(f"text must be [V, D] and lengths [V], got {tuple(text.shape)} and {tuple(lengths.shape)}")
    bad = torch.nonzero(lengths < 1)
    if len(bad):
        index = int(bad[0])
        raise ValueError(f"token lengths must be at least 1: lengths[{index}] = {int(lengths[index])}")
    return text, lengths


def _check_utterance(frames: ArrayLike, spans: ArrayLike, dim: int, logit_scale: float) -> tuple[Tensor, Tensor]:
    frames = torch.as_tensor(frames).float()
    spans = torch.as_tensor(spans).long().reshape(-1, 2)
    if frames.dim() != 2 or frames.shape[1] != dim:
        raise ValueError(f"frames must be [T, {dim}], got {tuple(frames.shape)}")
    if frames.shape[0] == 0:
        raise ValueError("an utterance needs at least one frame")
    if logit_scale <= 0:
        raise ValueError(f"logit_scale must be positive (max over windows commutes with it), got {logit_scale}")
    if len(spans):
        first, last = spans[:, 0], spans[:, 1]
        if first.min() < 0 or last.max() >= frames.shape[0] or (first > last).any():
            raise ValueError(
                f"token spans must satisfy 0 <= first <= last < T = {frames.shape[0]} (pass real tokens only)")
        if (first.diff() < 0).any() or (last.diff() < 0).any():
            raise ValueError("token spans must be monotone, as CIF's are")
    return frames, spans
