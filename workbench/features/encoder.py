"""The Whisper encoder passes a feature store holds: 30-s-padded outputs and own-length states.

Padded: each clip padded to Whisper's 30-s window (``n_audio_ctx`` frames), the encoder output the
ASR decoder reads, run ``ENCODER_CHUNK`` clips a call (``whisper_model.encode``).

Own length: the encoder on the unpadded log-mel with its positional embedding cut to the clip's
length (whisper.cpp's ``audio_ctx`` does the same), about 8x cheaper for our 3-4 s clips. The
retrievers and the speech LLM are trained on these, so the mismatch with Whisper's 30-s training
windows is learned away. Optionally the states below the top blocks (a partly trained encoder
runs those itself).
"""

from __future__ import annotations

import numpy as np
import torch
import whisper
from whisper.model import Whisper

from workbench.errors import AudioError


def clip_mel(model: Whisper, clip: np.ndarray) -> torch.Tensor:
    """Log-mel [n_mels, 2k] of the unpadded clip (even length: the stride-2 conv halves it)."""
    if len(clip) > whisper.audio.N_SAMPLES:
        raise AudioError(f"clip of {len(clip) / 16000:.1f} s is longer than Whisper's 30 s window")
    mel = whisper.log_mel_spectrogram(torch.from_numpy(np.ascontiguousarray(clip, dtype=np.float32)), model.dims.n_mels)
    frames = max(2, mel.shape[-1] // 2 * 2)
    if mel.shape[-1] < frames:  # a clip shorter than 20 ms: pad with log-mel silence
        mel = torch.nn.functional.pad(mel, (0, frames - mel.shape[-1]), value=float(mel.min()))
    return mel[:, :frames]


@torch.no_grad()
def mel_states(model: Whisper, mel: torch.Tensor, layers: int | None = None) -> torch.Tensor:
    """Hidden states [T, d] of one log-mel [n_mels, 2T] after the first ``layers`` encoder blocks
    (None or all of them: the encoder output, with ln_post)."""
    encoder = model.encoder
    device = next(encoder.parameters()).device
    x = mel.to(device).unsqueeze(0)
    x = torch.nn.functional.gelu(encoder.conv1(x))
    x = torch.nn.functional.gelu(encoder.conv2(x)).permute(0, 2, 1)
    x = x + encoder.positional_embedding[: x.shape[1]].to(x.dtype)
    blocks = encoder.blocks if layers is None else encoder.blocks[:layers]
    for block in blocks:
        x = block(x)
    if layers is None or layers == len(encoder.blocks):
        x = encoder.ln_post(x)
    return x[0]


def encoder_states(model: Whisper, clip: np.ndarray, layers: int | None = None) -> torch.Tensor:
    """Own-length hidden states [T, d] of a clip after the first ``layers`` encoder blocks (None: all)."""
    return mel_states(model, clip_mel(model, clip), layers)
