"""CIF (workbench.retrieval.cif): seed 002's worked example, quantity scaling, the tail rule, edge
cases, gradients, and agreement with a sequential integrate-and-fire loop."""

from __future__ import annotations

import pytest
import torch

from workbench.retrieval.cif import SNAP_EPSILON, CifPredictor, cif, quantity_loss

# seed 002 Fig. 4: five frames, β = 1
FIG4_ALPHAS = torch.tensor([[0.8, 0.3, 0.4, 0.4, 0.1]])


def one_hot_frames(batch: int, length: int) -> torch.Tensor:
    """Frame t = e_t, so token k's embedding reads off its per-frame weights."""
    return torch.eye(length).expand(batch, length, length).clone()


def loop_cif(frames: torch.Tensor, alphas: torch.Tensor, beta: float, tail: float) -> list[torch.Tensor]:
    """Sequential integrate-and-fire over one utterance ([T, D], [T]): the textbook loop."""
    tokens, state, acc = [], torch.zeros(frames.shape[1], dtype=torch.float64), 0.0
    for h, a in zip(frames.double(), alphas.double().tolist()):
        while acc + a >= beta - SNAP_EPSILON * beta:  # fire, possibly several times for a > β
            take = beta - acc
            tokens.append(state + take * h)
            state, acc, a = torch.zeros_like(state), 0.0, max(a - take, 0.0)
        state, acc = state + a * h, acc + a
    if acc > SNAP_EPSILON * beta and acc >= tail * beta:
        tokens.append(state)
    return tokens


# --------------------------------------------------------------------------- worked example


def test_fig4_worked_example():
    out = cif(one_hot_frames(1, 5), FIG4_ALPHAS, torch.ones(1, 5, dtype=torch.bool))
    assert out.token_counts.tolist() == [2]
    assert out.token_mask.tolist() == [[True, True]]
    expected = torch.tensor([[0.8, 0.2, 0.0, 0.0, 0.0], [0.0, 0.1, 0.4, 0.4, 0.1]])
    torch.testing.assert_close(out.tokens[0], expected)
    torch.testing.assert_close(out.weights[0], expected.T)
    assert out.frame_to_token.tolist() == [[0, 0, 1, 1, 1]]
    assert out.token_spans.tolist() == [[[0, 1], [1, 4]]]
    assert out.quantity.item() == pytest.approx(2.0)


def test_float_sum_just_below_a_token_still_fires():
    # float32 0.9 and 0.2 are not exact: even summed in float64 these land just below 2, and
    # without the snap the second token would only survive as a tail (here disabled)
    alphas = torch.tensor([[0.9, 0.9, 0.2]])
    assert alphas.double().sum().item() < 2.0
    out = cif(one_hot_frames(1, 3), alphas, torch.ones(1, 3, dtype=torch.bool), tail_threshold=1.0)
    assert out.token_counts.tolist() == [2]
    assert out.token_spans.tolist() == [[[0, 1], [1, 2]]]
    torch.testing.assert_close(out.weights[0].sum(0), torch.ones(2))


def test_threshold_scales_firing():
    alphas = torch.tensor([[0.5, 0.5, 0.5, 0.5]])
    out = cif(one_hot_frames(1, 4), alphas, torch.ones(1, 4, dtype=torch.bool), threshold=2.0)
    assert out.token_counts.tolist() == [1]
    assert out.token_spans.tolist() == [[[0, 3]]]
    torch.testing.assert_close(out.weights[0].sum(0), torch.tensor([2.0]))


# --------------------------------------------------------------------------- tail and edge cases


def test_tail_token_kept_above_tail_threshold_only():
    alphas = torch.tensor([[0.6, 0.6, 0.4]])  # total 1.6: one fire, residual 0.6
    mask = torch.ones(1, 3, dtype=torch.bool)
    kept = cif(one_hot_frames(1, 3), alphas, mask, tail_threshold=0.5)
    assert kept.token_counts.tolist() == [2]
    torch.testing.assert_close(kept.tokens[0, 1], torch.tensor([0.0, 0.2, 0.4]))
    assert kept.token_spans[0, 1].tolist() == [1, 2]
    dropped = cif(one_hot_frames(1, 3), alphas, mask, tail_threshold=0.7)
    assert dropped.token_counts.tolist() == [1]
    assert dropped.frame_to_token.tolist() == [[0, 0, 1]]  # frame after the last token: token_counts


def test_short_audio_yields_no_tokens():
    out = cif(one_hot_frames(1, 3), torch.tensor([[0.1, 0.1, 0.1]]), torch.ones(1, 3, dtype=torch.bool))
    assert out.token_counts.tolist() == [0]
    assert out.tokens.shape == (1, 0, 3)
    assert out.token_spans.shape == (1, 0, 2)
    assert out.weights.shape == (1, 3, 0)
    assert out.frame_to_token.tolist() == [[0, 0, 0]]


def test_batch_of_different_lengths_and_all_padding_row():
    frames = one_hot_frames(3, 5)
    alphas = torch.tensor([[0.8, 0.3, 0.4, 0.4, 0.1], [0.9, 0.9, 0.9, 0.7, 0.7], [0.5, 0.5, 0.5, 0.5, 0.5]])
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0], [0, 0, 0, 0, 0]], dtype=torch.bool)
    out = cif(frames, alphas, mask)
    assert out.token_counts.tolist() == [2, 3, 0]  # row 1: 2.7 = two fires and a 0.7 tail
    assert out.token_mask.tolist() == [[True, True, False], [True, True, True], [False, False, False]]
    assert out.frame_to_token.tolist() == [[0, 0, 1, 1, 1], [0, 0, 1, -1, -1], [-1] * 5]
    assert out.token_spans[1].tolist() == [[0, 1], [1, 2], [2, 2]]
    assert out.token_spans[0, 2].tolist() == [-1, -1] and (out.token_spans[2] == -1).all()
    assert out.tokens[2].abs().sum() == 0 and out.tokens[0, 2].abs().sum() == 0
    torch.testing.assert_close(out.quantity, torch.tensor([2.0, 2.7, 0.0]))


# --------------------------------------------------------------------------- quantity scaling


def test_quantity_scaling_hits_target_exactly():
    torch.manual_seed(0)
    frames, alphas = torch.randn(3, 40, 8), torch.rand(3, 40)
    mask = torch.arange(40)[None, :] < torch.tensor([[40], [31], [17]])
    target = torch.tensor([7, 12, 3])
    out = cif(frames, alphas, mask, target_lengths=target)
    assert out.token_counts.tolist() == target.tolist()
    assert out.tokens.shape == (3, 12, 8)
    assert out.token_mask.sum(1).tolist() == target.tolist()
    torch.testing.assert_close(out.weights.sum((1, 2)), target.float())
    for b, n in enumerate(target.tolist()):
        torch.testing.assert_close(out.weights[b, :, :n].sum(0), torch.ones(n))  # every token gets exactly β
        assert out.frame_to_token[b][mask[b]].max().item() == n - 1
    torch.testing.assert_close(out.quantity, (alphas * mask).sum(1))  # unscaled


def test_scaling_handles_alphas_above_threshold():
    # target 4 from Σα = 1: scaled alphas of 2.0 feed two tokens each
    out = cif(one_hot_frames(1, 2), torch.tensor([[0.5, 0.5]]), torch.ones(1, 2, dtype=torch.bool),
              target_lengths=torch.tensor([4]))
    assert out.token_spans[0].tolist() == [[0, 0], [0, 0], [1, 1], [1, 1]]
    assert out.frame_to_token.tolist() == [[0, 2]]
    torch.testing.assert_close(out.tokens[0], torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]]))


# --------------------------------------------------------------------------- random inputs


@pytest.mark.parametrize("seed", range(5))
def test_matches_sequential_loop(seed):
    generator = torch.Generator().manual_seed(seed)
    batch, length, dim = 3, 60, 6
    frames = torch.randn(batch, length, dim, generator=generator)
    alphas = torch.rand(batch, length, generator=generator) * (0.3 + seed * 0.3)  # seed 4: α up to 1.5
    lengths = torch.tensor([60, 45, 9])
    mask = torch.arange(length)[None, :] < lengths[:, None]
    out = cif(frames, alphas, mask, tail_threshold=0.4)
    for b in range(batch):
        expected = loop_cif(frames[b, : lengths[b]], alphas[b, : lengths[b]], 1.0, 0.4)
        assert out.token_counts[b].item() == len(expected)
        for k, token in enumerate(expected):
            torch.testing.assert_close(out.tokens[b, k].double(), token, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("seed", range(3))
def test_frame_to_token_monotone_and_consistent_with_spans(seed):
    generator = torch.Generator().manual_seed(seed)
    alphas = torch.rand(4, 80, generator=generator)
    mask = torch.arange(80)[None, :] < torch.tensor([[80], [64], [33], [5]])
    out = cif(torch.randn(4, 80, 5, generator=generator), alphas, mask)
    for b in range(4):
        real = out.frame_to_token[b][mask[b]]
        assert (real.diff() >= 0).all()
        spans = out.token_spans[b, : out.token_counts[b]]
        assert (spans[:, 0] <= spans[:, 1]).all()
        assert (spans[1:, 0] >= spans[:-1, 1]).all()  # a token starts at or after the previous firing frame
        for k, (first, last) in enumerate(spans.tolist()):  # α < β: a frame fires at most once
            assert real[first].item() in (k - 1, k) and real[last].item() in (k - 1, k)
            if k < len(spans) - 1:  # a fired token's last frame is its firing frame (a tail's may not be)
                assert real[last].item() == k


def test_gradients_reach_frames_and_alphas():
    torch.manual_seed(1)
    frames = torch.randn(2, 20, 4, requires_grad=True)
    alphas = torch.rand(2, 20, requires_grad=True)
    mask = torch.ones(2, 20, dtype=torch.bool)
    for target in (None, torch.tensor([5, 8])):
        out = cif(frames, alphas, mask, target_lengths=target)
        (out.tokens * torch.randn_like(out.tokens)).sum().backward()
        assert frames.grad.abs().sum() > 0 and alphas.grad.abs().sum() > 0
        assert torch.isfinite(alphas.grad).all()
        frames.grad = alphas.grad = None


# --------------------------------------------------------------------------- predictor and loss


def test_predictor_shape_range_and_padding():
    predictor = CifPredictor(8, kernel_size=3, dropout=0.0)
    frames = torch.randn(2, 10, 8)
    mask = torch.arange(10)[None, :] < torch.tensor([[10], [6]])
    alphas = predictor(frames, mask)
    assert alphas.shape == (2, 10)
    assert ((alphas > 0) & (alphas < 1))[mask].all() and (alphas[~mask] == 0).all()
    garbage = frames.clone()
    garbage[1, 6:] = 1e3  # what the padding holds must not change real frames' alphas
    torch.testing.assert_close(predictor(garbage, mask), alphas)


def test_quantity_loss_value_and_training_steps():
    assert quantity_loss(torch.tensor([2.5, 4.0]), torch.tensor([3, 3])).item() == pytest.approx(0.75)
    torch.manual_seed(0)
    predictor = CifPredictor(16, dropout=0.0)
    optimizer = torch.optim.Adam(predictor.parameters(), lr=1e-2)
    frames = torch.randn(4, 30, 16)
    mask = torch.arange(30)[None, :] < torch.tensor([[30], [25], [20], [12]])
    target = torch.tensor([4, 3, 3, 2])
    losses = []
    for _ in range(5):
        alphas = predictor(frames, mask)
        loss = quantity_loss(cif(frames, alphas, mask, target_lengths=target).quantity, target)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]
