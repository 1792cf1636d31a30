"""Converters from public corpus layouts to validated utterance manifests (DESIGN.md §4).

Every converter reads the corpus in its native layout and yields ``Utterance`` records; audio
that is not 16 kHz mono is resampled/downmixed into ``<out dir>/audio/`` (the manifest's validation
refuses anything else), audio already in the right format is referenced where it lies. Errors name
the file and line.

- **Kaldi** data directory: ``wav.scp`` (``<utt> <path>``; piped commands are refused: run them
  first), ``text`` (``<utt> <transcript>``), optional ``utt2spk``.
- **CS-FLEURS**: a ``metadata.jsonl`` (``id, file_name, text, duration, language, speaker``) per
  subset; ``read/test`` and ``xtts/train`` are separate subsets and are converted separately.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator

import soundfile

from workbench.data import ManifestError, Utterance
from workbench.data.audio import AudioError, resample, write_wav
from workbench.data.manifest import SAMPLE_RATE


def _audio_for_manifest(source: Path, out_dir: Path, utt_id: str) -> tuple[str, float]:
    """A 16 kHz mono file for ``source`` (the file itself when it already is one), as a path
    relative to ``out_dir`` when possible, and its duration."""
    try:
        info = soundfile.info(str(source))
    except Exception as error:
        raise AudioError(f"{source}: cannot read audio: {error}") from None
    if info.samplerate == SAMPLE_RATE and info.channels == 1:
        target = source
        duration = info.frames / info.samplerate
    else:
        samples, rate = soundfile.read(str(source), dtype="float32", always_2d=True)
        target = out_dir / "audio" / f"{utt_id}.wav"
        duration = write_wav(target, resample(samples.mean(axis=1), rate))
    try:
        return str(target.resolve().relative_to(out_dir.resolve())), round(duration, 3)
    except ValueError:
        return str(target.resolve()), round(duration, 3)


def _two_columns(path: Path) -> dict[str, tuple[int, str]]:
    """``<key> <rest of line>`` per line -> {key: (line, rest)}; duplicate keys are errors."""
    out: dict[str, tuple[int, str]] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        key, _, rest = line.strip().partition(" ")
        if not rest.strip():
            raise ManifestError(path, number, key, "no value after the utterance id")
        if key in out:
            raise ManifestError(path, number, key, f"duplicate utterance id (first on line {out[key][0]})")
        out[key] = (number, rest.strip())
    return out


def kaldi(data_dir: Path, out_dir: Path, language: str, split: str) -> Iterator[Utterance]:
    wav_scp, text = data_dir / "wav.scp", data_dir / "text"
    for required in (wav_scp, text):
        if not required.is_file():
            raise FileNotFoundError(f"{required}: a Kaldi data directory needs wav.scp and text")
    wavs, texts = _two_columns(wav_scp), _two_columns(text)
    speakers = _two_columns(data_dir / "utt2spk") if (data_dir / "utt2spk").is_file() else {}
    missing = sorted(set(texts) - set(wavs))
    if missing:
        raise ManifestError(text, texts[missing[0]][0], missing[0], f"no audio in {wav_scp} for {len(missing)} utterance(s)")
    for utt_id in sorted(texts):
        line, location = wavs[utt_id]
        if location.endswith("|"):
            raise ManifestError(wav_scp, line, utt_id, "piped wav.scp entries are not supported: write the audio to files first")
        source = Path(location) if Path(location).is_absolute() else data_dir / location
        audio, duration = _audio_for_manifest(source, out_dir, utt_id)
        yield Utterance(id=utt_id, audio=audio, duration=duration, text=texts[utt_id][1], language=language, split=split,
                        speaker=speakers.get(utt_id, (0, None))[1], custom={"source": "kaldi"})


def cs_fleurs(subset_dir: Path, out_dir: Path, split: str) -> Iterator[Utterance]:
    metadata = subset_dir / "metadata.jsonl"
    if not metadata.is_file():
        raise FileNotFoundError(f"{metadata}: a CS-FLEURS subset (e.g. read/test, xtts/train) holds a metadata.jsonl")
    for number, line in enumerate(metadata.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError as error:
            raise ManifestError(metadata, number, None, f"not JSON: {error}") from None
        for field in ("id", "file_name", "text", "language"):
            if field not in row:
                raise ManifestError(metadata, number, field, "missing")
        # CS-FLEURS names a pair "cmn-eng"-style; the matrix language is its first part
        language = str(row["language"]).replace("_", "-").split("-")[0]
        audio, duration = _audio_for_manifest(subset_dir / row["file_name"], out_dir, str(row["id"]))
        yield Utterance(id=str(row["id"]), audio=audio, duration=duration, text=row["text"], language=language, split=split,
                        speaker=str(row["speaker"]) if row.get("speaker") is not None else None,
                        custom={"source": "cs-fleurs", "pair": row["language"]})


CONVERTERS = {"kaldi": kaldi, "cs_fleurs": cs_fleurs}
