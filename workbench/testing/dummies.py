"""Builders for tiny, real fixtures: tone/noise WAVs and manifest records."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import soundfile

from workbench.data.manifest import SAMPLE_RATE


def write_tone(path: Path, seconds: float = 0.5, rate: int = SAMPLE_RATE, channels: int = 1) -> Path:
    t = np.arange(int(seconds * rate)) / rate
    samples = 0.3 * np.sin(2 * np.pi * 440 * t)
    if channels > 1:
        samples = np.stack([samples] * channels, axis=1)
    path.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(str(path), samples, rate, subtype="PCM_16")
    return path


def record(utt_id: str = "utt-1", audio: str = "a.wav", **overrides) -> dict:
    base = {"id": utt_id, "audio": audio, "duration": 0.5, "text": "hello world", "language": "en", "split": "test"}
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def write_lines(path: Path, lines: list[dict | str | bytes]) -> Path:
    """Write manifest lines: dicts as JSON, str as is, bytes raw (for encoding errors)."""
    with open(path, "wb") as handle:
        for line in lines:
            if isinstance(line, dict):
                line = json.dumps(line, ensure_ascii=False)
            handle.write((line.encode("utf-8") if isinstance(line, str) else line) + b"\n")
    return path


def tiny_whisper(seed: int = 0, multilingual: bool = True):
    """A randomly initialised Whisper with real dimensions where the tokenizer needs them."""
    import torch
    from whisper.model import ModelDimensions, Whisper

    torch.manual_seed(seed)
    dims = ModelDimensions(
        n_mels=80, n_audio_ctx=1500, n_audio_state=64, n_audio_head=2, n_audio_layer=1,
        n_vocab=51865 if multilingual else 51864, n_text_ctx=448, n_text_state=64, n_text_head=2, n_text_layer=2,
    )
    model = Whisper(dims)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.normal_(0.0, 0.5)  # spread the logits so beams differ
    return model.eval()
