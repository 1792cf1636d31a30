"""Frame-level audio features for the retrievers: Whisper's encoder on the clip's own length.

ASR pads every clip to 30 s (1500 encoder frames, 0.66 s per clip on 2 CPU cores); a retriever
only needs the frames of the audio itself. The encoder runs on the unpadded log-mel with its
positional embedding cut to the clip's length (whisper.cpp's ``audio_ctx`` does the same), which
for our 3-4 s clips is ~8x cheaper. The retriever towers are trained on these features, so the
mismatch with Whisper's 30-s training windows is learned away.

"Partly trained" encoders: ``FrameStore`` keeps the hidden states after layer
``n_layers - trainable_layers``; the retriever runs the remaining blocks (trainable) itself.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import safetensors.torch
import torch
import whisper
from whisper.model import Whisper

from workbench.data.atomic import atomic_path, write_json_atomic

FRAMES_PER_SECOND = 50  # Whisper's encoder: 100 mel frames/s, stride-2 convolution


def mel_of(model: Whisper, clip: np.ndarray) -> torch.Tensor:
    """Log-mel [n_mels, 2k] of the unpadded clip (even length: the stride-2 conv halves it)."""
    if len(clip) > whisper.audio.N_SAMPLES:
        raise ValueError(f"clip of {len(clip) / 16000:.1f} s is longer than Whisper's 30 s window")
    mel = whisper.log_mel_spectrogram(torch.from_numpy(np.ascontiguousarray(clip, dtype=np.float32)), model.dims.n_mels)
    frames = max(2, mel.shape[-1] // 2 * 2)
    if mel.shape[-1] < frames:  # a clip shorter than 20 ms: pad with log-mel silence
        mel = torch.nn.functional.pad(mel, (0, frames - mel.shape[-1]), value=float(mel.min()))
    return mel[:, :frames]


@torch.no_grad()
def encoder_states(model: Whisper, clip: np.ndarray, layers: int | None = None) -> torch.Tensor:
    """Hidden states [T, d] after the first ``layers`` encoder blocks (None: all, with ln_post)."""
    encoder = model.encoder
    device = next(encoder.parameters()).device
    x = mel_of(model, clip).to(device).unsqueeze(0)
    x = torch.nn.functional.gelu(encoder.conv1(x))
    x = torch.nn.functional.gelu(encoder.conv2(x)).permute(0, 2, 1)
    x = x + encoder.positional_embedding[: x.shape[1]].to(x.dtype)
    blocks = encoder.blocks if layers is None else encoder.blocks[:layers]
    for block in blocks:
        x = block(x)
    if layers is None or layers == len(encoder.blocks):
        x = encoder.ln_post(x)
    return x[0]


class EncoderTop(torch.nn.Module):
    """The encoder blocks after the stored layer (plus ln_post): the trainable part of a partly
    trained audio encoder. With ``trainable_layers == 0`` it is the identity."""

    def __init__(self, model: Whisper, trainable_layers: int):
        super().__init__()
        n_layers = len(model.encoder.blocks)
        if not 0 <= trainable_layers <= n_layers:
            raise ValueError(f"trainable_layers must be in 0..{n_layers}, got {trainable_layers}")
        self.trainable_layers = trainable_layers
        self.blocks = torch.nn.ModuleList(model.encoder.blocks[n_layers - trainable_layers :]) if trainable_layers else torch.nn.ModuleList()
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


def store_fingerprint(checkpoint: Path | str, layers: int) -> str:
    digest = hashlib.sha256()
    with open(checkpoint, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return f"{digest.hexdigest()[:16]}-layers{layers}"


class FrameStore:
    """Encoder states by utterance id in one safetensors file per manifest (float16), plus a
    ``meta.json`` naming the checkpoint fingerprint and layer: stale stores are refused."""

    META = "meta.json"

    def __init__(self, directory: Path | str):
        self.directory = Path(directory)
        self._index: dict[str, Path] = {}
        meta = self.directory / self.META
        self.meta = json.loads(meta.read_text(encoding="utf-8")) if meta.is_file() else None
        for path in sorted(self.directory.glob("*.safetensors")):
            with safetensors.safe_open(str(path), framework="pt") as handle:
                for key in handle.keys():
                    self._index[key] = path

    def __contains__(self, utt_id: str) -> bool:
        return utt_id in self._index

    def __len__(self) -> int:
        return len(self._index)

    def check(self, fingerprint: str) -> None:
        if self.meta is None:
            raise FileNotFoundError(f"no frame store in {self.directory}; run the retrieval_frames stage first")
        if self.meta["fingerprint"] != fingerprint:
            raise ValueError(
                f"{self.directory} holds encoder states of {self.meta['fingerprint']}, not {fingerprint}: "
                "rerun the retrieval_frames stage with this checkpoint and layer count"
            )

    def write(self, name: str, states: dict[str, torch.Tensor], fingerprint: str, layers: int) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        if self.meta is not None and self.meta["fingerprint"] != fingerprint:
            raise ValueError(f"{self.directory} holds states of {self.meta['fingerprint']}; refusing to mix in {fingerprint}")
        path = self.directory / f"{name}.safetensors"
        # meta first: a kill between the two writes leaves a meta without these states (the rerun
        # stores them), never states without a meta (which a rerun would skip and never describe)
        self.meta = {"fingerprint": fingerprint, "layers": layers, "dtype": "float16"}
        write_json_atomic(self.directory / self.META, self.meta)
        with atomic_path(path) as tmp:
            safetensors.torch.save_file({k: v.to(torch.float16).contiguous() for k, v in states.items()}, str(tmp))
        self._index.update(dict.fromkeys(states, path))

    def load(self, ids: Iterable[str]) -> dict[str, torch.Tensor]:
        ids = list(ids)
        missing = [i for i in ids if i not in self._index]
        if missing:
            raise KeyError(f"{len(missing)} utterance(s) not in {self.directory}, e.g. {missing[:3]}; rerun retrieval_frames")
        by_file: dict[Path, list[str]] = {}
        for utt_id in ids:
            by_file.setdefault(self._index[utt_id], []).append(utt_id)
        out = {}
        for path, keys in by_file.items():
            with safetensors.safe_open(str(path), framework="pt") as handle:
                out.update({k: handle.get_tensor(k).float() for k in keys})
        return out


def pad_states(states: Sequence[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack [T_i, d] tensors into [B, T_max, d] with a [B, T_max] mask (True = real frame)."""
    lengths = torch.tensor([s.shape[0] for s in states])
    out = torch.nn.utils.rnn.pad_sequence(list(states), batch_first=True)
    mask = torch.arange(out.shape[1])[None, :] < lengths[:, None]
    return out, mask
