"""Converters from public corpus layouts to validated utterance manifests (DESIGN.md §4).

Every converter reads the corpus in its native layout and yields ``Utterance`` records; audio
that is not 16 kHz mono is resampled/downmixed into ``<out dir>/audio/`` (the manifest's validation
refuses anything else), audio already in the right format is referenced where it lies. Errors name
the file and line.

- **Kaldi** data directory: ``wav.scp`` (``<utt> <path>``; piped commands are refused: run them
  first), ``text`` (``<utt> <transcript>``), optional ``utt2spk``.
- **CS-FLEURS**: a ``metadata.jsonl`` (``id, file_name, text, duration, language, speaker``) per
  subset; ``read/test`` and ``xtts/train`` are separate subsets and are converted separately.
- **AISHELL-1-NE** (SeACo-Paraformer's named-entity test sets): ``data/{dev,test}/text`` (Kaldi
  style), ``hotword.txt`` and ``r1-hotword.txt``, joined to the AISHELL-1 audio tree
  (``wav/<split>/<speaker>/<utt>.wav``); each utterance's ``hotwords`` are the list's phrases
  found in its transcript (longest first).
- **HF audio folder** (the ``datasets`` AudioFolder layout): audio files plus ``metadata.csv`` or
  ``metadata.jsonl`` with ``file_name`` and a transcript column (``text``, ``transcription`` or
  ``sentence``).
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


def _phrases(path: Path) -> list[str]:
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def aishell_ne(split_dir: Path, audio_root: Path, out_dir: Path, split: str) -> Iterator[Utterance]:
    """``split_dir``: SeACo-Paraformer's ``data/test`` (or ``dev``); ``audio_root``: AISHELL-1's
    ``wav/<split>`` directory (speaker subdirectories)."""
    text, hotword_file = split_dir / "text", split_dir / "hotword.txt"
    for required in (text, hotword_file):
        if not required.is_file():
            raise FileNotFoundError(f"{required}: an AISHELL-1-NE split holds text and hotword.txt")
    hotwords = sorted(set(_phrases(hotword_file)), key=lambda w: (-len(w), w))
    r1 = set(_phrases(split_dir / "r1-hotword.txt")) if (split_dir / "r1-hotword.txt").is_file() else set()
    audio_by_id = {p.stem: p for p in audio_root.rglob("*.wav")}
    for utt_id, (line, transcript) in sorted(_two_columns(text).items()):
        transcript = transcript.replace(" ", "")  # AISHELL transcripts are space-separated characters
        if utt_id not in audio_by_id:
            raise ManifestError(text, line, utt_id, f"no audio {utt_id}.wav under {audio_root}")
        audio, duration = _audio_for_manifest(audio_by_id[utt_id], out_dir, utt_id)
        found, rest = [], transcript
        for word in hotwords:  # longest first, each occurrence consumed once
            if word in rest:
                found.append(word)
                rest = rest.replace(word, "\0")
        yield Utterance(id=utt_id, audio=audio, duration=duration, text=transcript, language="zh", split=split,
                        hotwords=tuple(found), speaker=audio_by_id[utt_id].parent.name,
                        custom={"source": "aishell1-ne", "r1_hotwords": sorted(w for w in found if w in r1)})


_TRANSCRIPT_COLUMNS = ("text", "transcription", "sentence")


def audiofolder(folder: Path, out_dir: Path, language: str, split: str) -> Iterator[Utterance]:
    import csv

    if (folder / "metadata.jsonl").is_file():
        source = folder / "metadata.jsonl"
        rows = [(n, json.loads(line)) for n, line in enumerate(source.read_text(encoding="utf-8").splitlines(), start=1)
                if line.strip()]
    elif (folder / "metadata.csv").is_file():
        source = folder / "metadata.csv"
        with open(source, encoding="utf-8", newline="") as handle:
            rows = list(enumerate(csv.DictReader(handle), start=2))  # line 1 is the header
    else:
        raise FileNotFoundError(f"{folder}: an audio folder holds metadata.csv or metadata.jsonl")
    for number, row in rows:
        if "file_name" not in row:
            raise ManifestError(source, number, "file_name", "missing")
        column = next((c for c in _TRANSCRIPT_COLUMNS if c in row), None)
        if column is None:
            raise ManifestError(source, number, "text", f"no transcript column (one of {', '.join(_TRANSCRIPT_COLUMNS)})")
        utt_id = str(row.get("id") or Path(row["file_name"]).stem)
        audio, duration = _audio_for_manifest(folder / row["file_name"], out_dir, utt_id)
        yield Utterance(id=utt_id, audio=audio, duration=duration, text=row[column], language=language, split=split,
                        custom={"source": "audiofolder"})


CONVERTERS = {"kaldi": kaldi, "cs_fleurs": cs_fleurs, "aishell_ne": aishell_ne, "audiofolder": audiofolder}
