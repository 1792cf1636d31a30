"""Load an openai-whisper checkpoint from a path (never by hub name: nothing downloads here)."""

from __future__ import annotations

from pathlib import Path

import torch
from whisper.model import ModelDimensions, Whisper


def load_whisper(path: Path | str, device: str | torch.device = "cpu") -> Whisper:
    """A Whisper model from a checkpoint file such as the assets stage's ``whisper-base.pt``."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"Whisper checkpoint {path} not found; run `dvc repro assets` (or `workbench assets`) first"
        )
    checkpoint = torch.load(path, map_location=device, weights_only=True)
    model = Whisper(ModelDimensions(**checkpoint["dims"]))
    model.load_state_dict(checkpoint["model_state_dict"])
    return model.to(device).eval()


# Clips per encoder call: the 30-s encoder is fastest in batches of 2 on a 2-core CPU (0.57 s/clip)
# and slower in bigger ones (0.77 s/clip at 16: its activations no longer fit the caches), measured
# with benchmarks/decode_bench.py's clips. Decoding still batches every clip of the call.
ENCODER_CHUNK = 2


@torch.no_grad()
def encode(model: Whisper, mel: torch.Tensor, chunk: int = ENCODER_CHUNK) -> torch.Tensor:
    """Encoder outputs [n, n_audio_ctx, n_audio_state] of log-mels [n, n_mels, 3000], ``chunk`` clips a call.

    whisper's decoding accepts these in place of the mels and skips its own encoder pass.
    """
    if mel.ndim == 2:
        mel = mel.unsqueeze(0)
    if mel.shape[-2:] == (model.dims.n_audio_ctx, model.dims.n_audio_state):
        return mel  # already encoded
    return torch.cat([model.encoder(mel[i : i + chunk]) for i in range(0, mel.shape[0], chunk)])
