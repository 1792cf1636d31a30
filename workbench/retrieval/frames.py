"""The trainable top of a partly trained Whisper encoder, and padding of own-length states.

The states below it come from the feature store (``workbench.features``, own-length layout):
``EncoderTop`` runs the remaining ``trainable_layers`` blocks (plus ln_post) on them.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from whisper.model import Whisper


class EncoderTop(torch.nn.Module):
    """The encoder blocks after the stored layer (plus ln_post): the trainable part of a partly
    trained audio encoder. With ``trainable_layers == 0`` it is the identity."""

    def __init__(self, model: Whisper, trainable_layers: int):
        super().__init__()
        n_layers = len(model.encoder.blocks)
        if not 0 <= trainable_layers <= n_layers:
            raise ValueError(f"trainable_layers must be in 0..{n_layers}, got {trainable_layers}")
        self.trainable_layers = trainable_layers
        top = model.encoder.blocks[n_layers - trainable_layers :] if trainable_layers else []
        self.blocks = torch.nn.ModuleList(top)
        self.ln_post = model.encoder.ln_post if trainable_layers else None

    def forward(self, states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """``states`` [B, T, d] padded, ``mask`` [B, T] True on real frames."""
        if not self.trainable_layers:
            return states
        # whisper's blocks take an additive mask only for causal use; padding keys get -inf here
        bias = torch.zeros(mask.shape, dtype=states.dtype, device=states.device).masked_fill(~mask, float("-inf"))
        x = states
        for block in self.blocks:
            x = _masked_block(block, x, bias)
        return self.ln_post(x)


def _masked_block(block, x: torch.Tensor, key_bias: torch.Tensor) -> torch.Tensor:
    """A whisper ResidualAttentionBlock with padded keys masked out (its own forward has no
    key-padding mask)."""
    attn = block.attn
    h = block.attn_ln(x)
    q, k, v = attn.query(h), attn.key(h), attn.value(h)
    b, t, d = q.shape
    heads = attn.n_head
    q, k, v = (z.view(b, t, heads, d // heads).transpose(1, 2) for z in (q, k, v))
    mask = key_bias[:, None, None, :]
    out = torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    x = x + attn.out(out.transpose(1, 2).reshape(b, t, d))
    return x + block.mlp(block.mlp_ln(x))


def pad_states(states: Sequence[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack [T_i, d] tensors into [B, T_max, d] with a [B, T_max] mask (True = real frame)."""
    lengths = torch.tensor([s.shape[0] for s in states])
    out = torch.nn.utils.rnn.pad_sequence(list(states), batch_first=True)
    mask = torch.arange(out.shape[1])[None, :] < lengths[:, None]
    return out, mask
