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
