"""Audio I/O at the workbench's one sample rate: 16 kHz mono float32."""

from __future__ import annotations

from math import gcd
from pathlib import Path

import numpy as np
import soundfile
from scipy.signal import resample_poly

from workbench.data.atomic import atomic_path
from workbench.data.manifest import SAMPLE_RATE
from workbench.errors import AudioError


def load_audio(path: Path | str) -> np.ndarray:
    """Read a 16 kHz mono file as float32 in [-1, 1]; other rates are an error (resample upstream)."""
    try:
        samples, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    except Exception as error:
        raise AudioError(f"{path}: cannot read audio: {error}") from None
    if rate != SAMPLE_RATE:
        raise AudioError(f"{path}: sample rate {rate} Hz, expected {SAMPLE_RATE} Hz")
    if samples.shape[1] != 1:
        raise AudioError(f"{path}: {samples.shape[1]} channels, expected mono")
    return samples[:, 0]


def resample(samples: np.ndarray, rate: int, target: int = SAMPLE_RATE) -> np.ndarray:
    if rate == target:
        return samples.astype(np.float32)
    divisor = gcd(rate, target)
    return resample_poly(samples, target // divisor, rate // divisor).astype(np.float32)


def write_wav(path: Path | str, samples: np.ndarray, rate: int = SAMPLE_RATE) -> float:
    """Write 16-bit PCM atomically; returns the duration in seconds."""
    path = Path(path)
    with atomic_path(path) as tmp:
        soundfile.write(str(tmp), np.clip(samples, -1.0, 1.0), rate, subtype="PCM_16", format="WAV")
    return len(samples) / rate
