"""CLAR localized scoring (workbench.retrieval.localized): agreement with the frame-level reference,
the mean-of-cosines identity, the clamping / no-token rules, input validation, and the optional
standardization of scores per hotword token length."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from workbench.retrieval.cif import cif
from workbench.retrieval.localized import (
    LengthBuckets,
    localized_scores,
    naive_localized_scores,
    normalize_by_length,
    pool_token_span,
    score_buckets,
)


def normalized(generator: torch.Generator, *shape: int) -> torch.Tensor:
    x = torch.randn(*shape, generator=generator)
    return x / x.norm(dim=-1, keepdim=True)


def cif_spans(generator: torch.Generator, n_frames: int, n_tokens: int) -> torch.Tensor:
    """Monotone spans as CIF produces them: quantity-scaled random alphas, exactly n_tokens."""
    out = cif(torch.zeros(1, n_frames, 1), torch.rand(1, n_frames, generator=generator) + 0.05,
              torch.ones(1, n_frames, dtype=torch.bool), target_lengths=torch.tensor([n_tokens]))
    return out.token_spans[0]


@pytest.mark.parametrize(
    ("seed", "n_frames", "n_tokens", "max_length"),
    [(0, 50, 8, 4), (1, 120, 20, 8), (2, 30, 3, 9), (3, 40, 1, 3), (4, 17, 0, 5), (5, 200, 30, 1)],
)
def test_matches_naive_reference(seed, n_frames, n_tokens, max_length):
    generator = torch.Generator().manual_seed(seed)
    dim, size = 16, 300
    frames = normalized(generator, n_frames, dim)
    spans = cif_spans(generator, n_frames, n_tokens) if n_tokens else torch.zeros(0, 2, dtype=torch.long)
    text = normalized(generator, size, dim)
    lengths = torch.randint(1, max_length + 1, (size,), generator=generator)  # some longer than N
    ours = localized_scores(frames, spans, text, lengths, logit_scale=2.5)
    reference = naive_localized_scores(frames, spans, text, lengths, logit_scale=2.5)
    torch.testing.assert_close(ours.scores, reference.scores, atol=1e-5, rtol=1e-5)
    # same argmax wherever the best window is unique: any disagreement must be a float-level tie
    mismatched = (ours.positions != reference.positions).nonzero().flatten().tolist()
    for j in mismatched:
        p, length = ours.positions[j].item(), min(lengths[j].item(), n_tokens)
        tied = 2.5 * (text[j] @ pool_token_span(frames, spans, p, p + length - 1))
        assert abs(tied.item() - reference.scores[j].item()) < 1e-5
    assert len(mismatched) <= 1


def test_numpy_inputs_and_chunking_give_same_result():
    generator = torch.Generator().manual_seed(7)
    frames, text = normalized(generator, 60, 8), normalized(generator, 1000, 8)
    spans = cif_spans(generator, 60, 10)
    lengths = torch.randint(1, 6, (1000,), generator=generator)
    whole = localized_scores(frames, spans, text, lengths)
    from_numpy = localized_scores(frames.numpy(), spans.numpy(), text.numpy(), lengths.numpy())
    chunked = score_buckets(frames, spans, LengthBuckets.build(text, lengths), chunk_size=7)
    for other in (from_numpy, chunked):
        torch.testing.assert_close(other.scores, whole.scores)
        assert torch.equal(other.positions, whole.positions)
    assert whole.scores.dtype == torch.float32 and whole.positions.dtype == torch.long


def test_mean_of_cosines_is_dot_with_mean_frame():
    generator = torch.Generator().manual_seed(3)
    frames, text = normalized(generator, 25, 12), normalized(generator, 1, 12)
    spans = torch.tensor([[0, 4], [4, 9], [9, 15], [16, 24]])
    pooled = pool_token_span(frames, spans, 1, 2)  # frames 4..15
    mean_cosine = torch.nn.functional.cosine_similarity(frames[4:16], text).mean()
    torch.testing.assert_close(text[0] @ pooled, mean_cosine)
    # the L=2 hotword's best window is one of the three and its score the window's mean cosine
    result = localized_scores(frames, spans, text, [2])
    p = result.positions.item()
    window = pool_token_span(frames, spans, p, p + 1)
    torch.testing.assert_close(result.scores[0], text[0] @ window)


def test_rules_for_long_hotwords_and_tokenless_audio():
    generator = torch.Generator().manual_seed(4)
    frames, text = normalized(generator, 20, 6), normalized(generator, 2, 6)
    spans = torch.tensor([[2, 6], [6, 11], [12, 17]])
    longer = localized_scores(frames, spans, text, [3, 9])  # 9 > N = 3: clamped, one window
    whole_span = frames[2:18].mean(0)
    torch.testing.assert_close(longer.scores, text @ whole_span)
    assert longer.positions.tolist() == [0, 0]
    tokenless = localized_scores(frames, torch.zeros(0, 2, dtype=torch.long), text, [1, 4])
    torch.testing.assert_close(tokenless.scores, text @ frames.mean(0))  # the global cosine
    assert tokenless.positions.tolist() == [0, 0]


def test_length_one_picks_best_single_token():
    frames = torch.eye(4)
    spans = torch.tensor([[0, 0], [1, 1], [2, 2], [3, 3]])
    text = torch.eye(4)[[2, 0]]
    result = localized_scores(frames, spans, text, [1, 1])
    assert result.positions.tolist() == [2, 0]
    torch.testing.assert_close(result.scores, torch.ones(2))


def test_empty_vocabulary():
    frames = torch.eye(3)
    spans = torch.tensor([[0, 1], [1, 2]])
    for scorer in (localized_scores, naive_localized_scores):
        result = scorer(frames, spans, np.zeros((0, 3), dtype=np.float32), np.zeros(0, dtype=np.int64))
        assert result.scores.shape == (0,) and result.positions.shape == (0,)


@pytest.mark.parametrize("scorer", [localized_scores, naive_localized_scores])
def test_bad_inputs_raise(scorer):
    frames, text = torch.eye(3), torch.eye(3)
    spans = torch.tensor([[0, 1], [1, 2]])
    with pytest.raises(ValueError, match=r"lengths\[2\] = 0"):
        scorer(frames, spans, text, [1, 2, 0])
    with pytest.raises(ValueError, match=r"lengths\[0\] = -1"):
        scorer(frames, spans, text, [-1, 2, 0])
    with pytest.raises(ValueError, match="spans"):
        scorer(frames, torch.tensor([[0, 3]]), text, [1, 1, 1])
    with pytest.raises(ValueError, match="logit_scale"):
        scorer(frames, spans, text, [1, 1, 1], logit_scale=0.0)


def test_pool_token_span_range_checked_and_differentiable():
    frames = torch.randn(10, 4, requires_grad=True)
    spans = torch.tensor([[0, 3], [3, 6], [7, 9]])
    pool_token_span(frames, spans, 0, 1).sum().backward()
    assert frames.grad[:7].abs().sum() > 0 and frames.grad[7:].abs().sum() == 0
    with pytest.raises(ValueError, match="outside"):
        pool_token_span(frames, spans, 1, 3)


def test_length_normalization_standardizes_each_length_and_keeps_its_order():
    generator = torch.Generator().manual_seed(0)
    lengths = torch.tensor([1] * 8 + [3] * 6 + [5] * 2)
    # short hotwords peak higher by chance: an offset per length, which the normalization removes
    scores = torch.randn(16, generator=generator) * 0.1 + (lengths == 1) * 0.5
    scores[3] = -float("inf")  # outside a candidate pool: stays out, not in the statistics
    normalized = normalize_by_length(scores, lengths, min_count=5)
    assert normalized[3] == -float("inf")
    for length in (1, 3):
        rows = (lengths == length) & torch.isfinite(scores)
        values = normalized[rows].double()
        assert abs(float(values.mean())) < 1e-5 and abs(float(values.std(unbiased=False)) - 1.0) < 1e-5
        assert torch.equal(torch.argsort(normalized[rows]), torch.argsort(scores[rows]))
    finite = torch.isfinite(scores)
    pooled = scores[finite].double()
    expected = (scores[lengths == 5].double() - pooled.mean()) / pooled.std(unbiased=False)  # too few: pooled
    torch.testing.assert_close(normalized[lengths == 5], expected.float())
    flat = normalize_by_length(torch.ones(6), torch.tensor([1, 1, 1, 2, 2, 2]), min_count=2)
    assert torch.equal(flat, torch.zeros(6))  # no spread anywhere: centred only
    with pytest.raises(ValueError, match="both be"):
        normalize_by_length(torch.ones(3), torch.ones(4))


def test_clar_scores_queries_with_length_normalization_inside_its_candidate_pool():
    from workbench.retrieval.evaluation import score_queries
    from workbench.retrieval.models import ArchitectureConfig, build_retriever, text_encoder_of
    from workbench.testing.dummies import tiny_whisper

    torch.manual_seed(0)
    config = ArchitectureConfig(text_encoder="chars", symbol_dim=16, symbol_layers=1, projection_dim=16,
                                projection_hidden=32)
    model = build_retriever("clar", tiny_whisper(), text_encoder_of(config, None), config).eval()
    words = ["ab", "abc", "abcd", "xyz", "q", "longer word", "mid", "ok", "zz", "tiny"]
    with torch.no_grad():
        vocabulary = model.embed_text(words)
    generator = torch.Generator().manual_seed(1)
    states = [torch.randn(30, 64, generator=generator), torch.randn(45, 64, generator=generator)]
    plain = score_queries(model, states, vocabulary, words).scores
    both = score_queries(model, states, vocabulary, words, length_normalized=True).scores
    lengths = model.text_lengths(words)
    for q in range(2):
        torch.testing.assert_close(torch.from_numpy(both[q]), normalize_by_length(torch.from_numpy(plain[q]), lengths))
    pooled = score_queries(model, states, vocabulary, words, clar_candidates=6, length_normalized=True).scores
    assert (np.isfinite(pooled).sum(axis=1) == 6).all()  # the rest is outside the pool: -inf
