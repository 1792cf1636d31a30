"""Continuous Integrate-and-Fire (CIF; Dong & Xu 2020) as Paraformer uses it (seed 000 Eq. 2-3).

A predictor gives every encoder frame a weight α_t in (0, 1). Reading the frames left to right,
the weights are accumulated and a token *fires* whenever the accumulated weight reaches the
threshold β; the frame that crosses β splits its weight, the part up to β closing the current
token and the rest (the residual) opening the next one. A token's embedding is the α-weighted
SUM of the frames that fed it, and the token count is the integral of the weights.

Vectorized form used here (no loop over frames): with c_t = α_1 + ... + α_t (c_0 = 0), frame t
covers the interval [c_{t-1}, c_t) of "weight time" and token k the interval [kβ, (k+1)β), so

    w[t, k] = max(0, min(c_t, (k+1)β) − max(c_{t-1}, kβ))

is the weight frame t gives token k. This is exactly sequential firing with residual carry, and
a frame with α_t > β (possible after quantity scaling) simply feeds several tokens.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

# A cumulative weight within SNAP_EPSILON·β of a multiple of β counts as reaching it. float32
# weights such as 0.1 are not exact, and 0.8+0.3+0.4+0.4+0.1 would otherwise land on 1.9999999
# and lose its second token. 1e-4 is far above the rounding error of summing a few thousand
# float32 weights in float64 and far below any weight a predictor meaningfully emits.
SNAP_EPSILON = 1e-4


class CifPredictor(nn.Module):
    """α_t = sigmoid(Linear(ReLU(Conv1d(frames)))): a length-preserving convolution over time,
    a projection to one logit per frame, and 0 on padded frames."""

    def __init__(self, d_model: int, kernel_size: int = 3, dropout: float = 0.1) -> None:
        super().__init__()
        self.conv = nn.Conv1d(d_model, d_model, kernel_size, padding="same")
        self.dropout = nn.Dropout(dropout)
        self.output = nn.Linear(d_model, 1)

    def forward(self, frames: Tensor, mask: Tensor) -> Tensor:
        """frames [B, T, D], mask [B, T] (True = real frame) -> alphas [B, T]."""
        # zero the padding first so it cannot leak into real frames through the conv window
        x = frames.masked_fill(~mask[..., None], 0.0).transpose(1, 2)
        hidden = torch.relu(self.conv(x)).transpose(1, 2)
        alphas = torch.sigmoid(self.output(self.dropout(hidden))).squeeze(-1)
        return alphas.masked_fill(~mask, 0.0)


@dataclass(frozen=True)
class CifOutput:
    """CIF's acoustic tokens for a batch; N is the largest token count in the batch.

    - ``tokens`` [B, N, D]: token k = Σ_t weights[b, t, k] · frames[b, t] (a weighted sum, as in
      Paraformer, not a mean); rows past ``token_counts[b]`` are zero.
    - ``token_mask`` [B, N]: True on the ``token_counts[b]`` real tokens.
    - ``token_counts`` [B] long: tokens per item (the target length when training).
    - ``frame_to_token`` [B, T] long (Eq. 3): the number of fires strictly before frame t, so
      non-decreasing and the index of the first token frame t feeds. A frame after the last
      token (a dropped tail, or zero-weight frames after the last fire) maps to
      ``token_counts[b]``; padded frames are -1.
    - ``token_spans`` [B, N, 2] long: (first, last) frame giving the token positive weight; the
      last is the firing frame. (-1, -1) for padding tokens and for tokens no frame fed.
    - ``quantity`` [B]: Σ_t α_t of the unscaled alphas, the predicted token count (for β = 1).
    - ``weights`` [B, T, N]: w[t, k] above (after any quantity scaling), zero on padding tokens;
      every fired token's column sums to β, a kept tail token's to its residual.
    """

    tokens: Tensor
    token_mask: Tensor
    token_counts: Tensor
    frame_to_token: Tensor
    token_spans: Tensor
    quantity: Tensor
    weights: Tensor


def cif(
    frames: Tensor,
    alphas: Tensor,
    mask: Tensor,
    threshold: float = 1.0,
    target_lengths: Tensor | None = None,
    tail_threshold: float = 0.5,
) -> CifOutput:
    """Integrate ``frames`` [B, T, D] with ``alphas`` [B, T] and fire at ``threshold`` (β).

    Training (``target_lengths`` [B] given): quantity scaling, as in Paraformer. The alphas are
    multiplied by target·β / Σα so their total is exactly the target length and CIF emits
    exactly target tokens (the scale is differentiable, so gradients also reach Σα). A row
    whose alphas are all zero (e.g. all padding) cannot be scaled: its target tokens stay zero
    vectors with spans (-1, -1).

    Inference: floor(Σα / β) tokens fire. Paraformer also keeps a final partial token when the
    leftover weight is large enough (FunASR appends one silent frame carrying extra weight at
    the end so that a large residual still fires); here that tail rule is stated directly: a
    residual ≥ ``tail_threshold``·β becomes a last token (its weights sum to the residual). Audio
    whose total weight is below one token and below the tail threshold (and all-padding rows)
    yields 0 tokens.

    Differentiable w.r.t. ``frames`` and ``alphas``. Cumulative weights are summed in float64
    and snapped to a multiple of β when within SNAP_EPSILON·β of it (straight-through: the
    snap changes the value, not the gradient).
    """
    if threshold <= 0:
        raise ValueError(f"threshold must be positive, got {threshold}")
    batch, length, _ = frames.shape
    if alphas.shape != (batch, length) or mask.shape != (batch, length):
        raise ValueError(
            f"alphas {tuple(alphas.shape)} and mask {tuple(mask.shape)} must be [B, T] = {(batch, length)}")
    mask = mask.bool()
    alphas = alphas.masked_fill(~mask, 0.0)
    quantity = alphas.sum(dim=1)
    if target_lengths is not None:
        target = target_lengths.to(device=alphas.device, dtype=alphas.dtype)
        alphas = alphas * (target * threshold / quantity.clamp_min(torch.finfo(alphas.dtype).tiny))[:, None]

    # positions in units of β: frame t covers [before[t], after[t])
    after = torch.cumsum(alphas.double(), dim=1) / threshold
    nearest = torch.round(after)
    after = after + torch.where((after - nearest).abs() <= SNAP_EPSILON, nearest - after, 0.0).detach()
    before = torch.cat([after.new_zeros(batch, 1), after[:, :-1]], dim=1)  # exactly the previous value
    total = after[:, -1] if length else after.new_zeros(batch)

    if target_lengths is not None:
        counts = target_lengths.to(device=alphas.device, dtype=torch.long)
    else:
        fired = torch.floor(total.detach())
        residual = total.detach() - fired
        tail = (residual > 0) & (residual >= tail_threshold)
        counts = (fired + tail.double()).long()
    n_tokens = int(counts.max()) if batch else 0

    k = torch.arange(n_tokens, dtype=torch.float64, device=alphas.device)
    overlap = torch.minimum(after[:, :, None], k + 1) - torch.maximum(before[:, :, None], k)
    token_mask = k[None, :] < counts[:, None]
    weights = (overlap.clamp_min(0.0) * token_mask[:, None, :] * threshold).to(frames.dtype)  # [B, T, N]
    tokens = torch.bmm(weights.transpose(1, 2), frames)

    frame_to_token = torch.floor(before.detach()).long().masked_fill(~mask, -1)
    fed = weights.detach() > 0
    t = torch.arange(length, device=frames.device)[None, :, None]
    first = torch.where(fed, t, length).amin(dim=1) if length else counts.new_full((batch, n_tokens), length)
    last = torch.where(fed, t, -1).amax(dim=1) if length else counts.new_full((batch, n_tokens), -1)
    first = first.masked_fill(first == length, -1)
    return CifOutput(
        tokens=tokens,
        token_mask=token_mask,
        token_counts=counts,
        frame_to_token=frame_to_token,
        token_spans=torch.stack([first, last], dim=-1),
        quantity=quantity,
        weights=weights,
    )


def quantity_loss(quantity: Tensor, target_lengths: Tensor) -> Tensor:
    """Mean over the batch of |Σα − target length|: seed 000's L1 distance between the predicted
    token count and the ground-truth text length (use the unscaled ``CifOutput.quantity``)."""
    return (quantity - target_lengths.to(quantity.dtype)).abs().mean()
