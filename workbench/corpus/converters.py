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
- **ViMedCSS** (Vietnamese–English medical code-switching; splits train/dev/test/hard, each converted
  separately). The layout is the dataset's Hugging Face repository ``tensorxt/ViMedCSS`` as
  ``huggingface-cli download tensorxt/ViMedCSS --repo-type dataset --local-dir ViMedCSS`` leaves it:
  ``data/{train,validation,test,hard}-NNNNN-of-NNNNN.parquet`` (the ``dev`` split is HF's
  ``validation``). The columns are those of the dataset card's ``dataset_info`` (LREC 2026, arXiv
  2602.12911): ``segment_id``, ``audio`` (``Audio(decode=False)``: a struct of the encoded file's
  ``bytes`` and its ``path``), ``duration_seconds`` (whole seconds; the duration is measured from
  the audio instead), ``segment_text``, ``cs_terms_list``, ``cs_terms_count``, ``topic``,
  ``original_video_link``, ``original_video_title``, ``start_time``, ``end_time``. The card types
  ``cs_terms_list`` as a string without showing a value, so a JSON list, a Python list literal or
  a ``;``/``|``/``,``-separated string are all read (a real list column too). The same columns in
  an exported per-split folder, ``<root>/<split>/metadata.jsonl`` or ``metadata.csv`` with
  ``file_name`` instead of ``audio`` (the ``datasets`` AudioFolder layout, split folder named
  ``train``, ``dev`` or ``validation``, ``test``, ``hard``), are read as well. (The repository's
  ``ViMedCSS-Metadata/*_set.csv`` files carry no audio and are not used.) Each utterance's
  English terms become its ``hotwords`` and, where found in the transcript (case-insensitive,
  whole words, longest first), its English ``spans``; the matrix language is ``vi``. The manifest
  knows only train/dev/test, so ``hard`` is written as split ``test`` with ``custom.subset =
  "hard"``. Errors name the shard and row (parquet) or the file and line (jsonl/csv).
"""

from __future__ import annotations

import ast
import io
import json
import re
from collections.abc import Iterator
from pathlib import Path

import soundfile

from workbench.data import ManifestError, Span, Utterance
from workbench.data.audio import AudioError, resample, write_wav
from workbench.data.manifest import SAMPLE_RATE
from workbench.errors import ConfigError, InputError
from workbench.text.hotwords import hotword_key, normalize_phrase


class LayoutError(InputError):
    """A corpus directory without a file its layout needs (wav.scp, metadata.jsonl, ...)."""


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
            raise LayoutError(f"{required}: a Kaldi data directory needs wav.scp and text")
    wavs, texts = _two_columns(wav_scp), _two_columns(text)
    speakers = _two_columns(data_dir / "utt2spk") if (data_dir / "utt2spk").is_file() else {}
    missing = sorted(set(texts) - set(wavs))
    if missing:
        raise ManifestError(text, texts[missing[0]][0], missing[0],
                            f"no audio in {wav_scp} for {len(missing)} utterance(s)")
    for utt_id in sorted(texts):
        line, location = wavs[utt_id]
        if location.endswith("|"):
            raise ManifestError(wav_scp, line, utt_id,
                                "piped wav.scp entries are not supported: write the audio to files first")
        source = Path(location) if Path(location).is_absolute() else data_dir / location
        audio, duration = _audio_for_manifest(source, out_dir, utt_id)
        yield Utterance(id=utt_id, audio=audio, duration=duration, text=texts[utt_id][1], language=language,
                        split=split, speaker=speakers.get(utt_id, (0, None))[1], custom={"source": "kaldi"})


def _jsonl_rows(source: Path) -> Iterator[tuple[int, dict]]:
    """(line number, object) per non-empty line of a metadata.jsonl; errors name the file and line."""
    for number, line in enumerate(source.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError as error:
            raise ManifestError(source, number, None, f"not JSON: {error}") from None
        if not isinstance(row, dict):
            raise ManifestError(source, number, None, "a line must be a JSON object")
        yield number, row


def _metadata_rows(folder: Path) -> tuple[Path, Iterator[tuple[int, dict]]] | None:
    """An audio folder's ``metadata.jsonl`` or ``metadata.csv`` and its (line, row) pairs; None without one."""
    import csv

    if (folder / "metadata.jsonl").is_file():
        return folder / "metadata.jsonl", _jsonl_rows(folder / "metadata.jsonl")
    if (folder / "metadata.csv").is_file():
        source = folder / "metadata.csv"

        def rows() -> Iterator[tuple[int, dict]]:
            with open(source, encoding="utf-8", newline="") as handle:
                yield from enumerate(csv.DictReader(handle), start=2)  # line 1 is the header

        return source, rows()
    return None


def cs_fleurs(subset_dir: Path, out_dir: Path, split: str) -> Iterator[Utterance]:
    metadata = subset_dir / "metadata.jsonl"
    if not metadata.is_file():
        raise LayoutError(f"{metadata}: a CS-FLEURS subset (e.g. read/test, xtts/train) holds a metadata.jsonl")
    for number, row in _jsonl_rows(metadata):
        for field in ("id", "file_name", "text", "language"):
            if field not in row:
                raise ManifestError(metadata, number, field, "missing")
        # CS-FLEURS names a pair "cmn-eng"-style; the matrix language is its first part
        language = str(row["language"]).replace("_", "-").split("-")[0]
        audio, duration = _audio_for_manifest(subset_dir / row["file_name"], out_dir, str(row["id"]))
        yield Utterance(id=str(row["id"]), audio=audio, duration=duration, text=row["text"], language=language,
                        split=split, speaker=str(row["speaker"]) if row.get("speaker") is not None else None,
                        custom={"source": "cs-fleurs", "pair": row["language"]})


def _phrases(path: Path) -> list[str]:
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def aishell_ne(split_dir: Path, audio_root: Path, out_dir: Path, split: str) -> Iterator[Utterance]:
    """``split_dir``: SeACo-Paraformer's ``data/test`` (or ``dev``); ``audio_root``: AISHELL-1's
    ``wav/<split>`` directory (speaker subdirectories)."""
    text, hotword_file = split_dir / "text", split_dir / "hotword.txt"
    for required in (text, hotword_file):
        if not required.is_file():
            raise LayoutError(f"{required}: an AISHELL-1-NE split holds text and hotword.txt")
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
    metadata = _metadata_rows(folder)
    if metadata is None:
        raise LayoutError(f"{folder}: an audio folder holds metadata.csv or metadata.jsonl")
    source, rows = metadata
    for number, row in rows:
        if "file_name" not in row:
            raise ManifestError(source, number, "file_name", "missing")
        column = next((c for c in _TRANSCRIPT_COLUMNS if c in row), None)
        if column is None:
            raise ManifestError(source, number, "text",
                                f"no transcript column (one of {', '.join(_TRANSCRIPT_COLUMNS)})")
        utt_id = str(row.get("id") or Path(row["file_name"]).stem)
        audio, duration = _audio_for_manifest(folder / row["file_name"], out_dir, utt_id)
        yield Utterance(id=utt_id, audio=audio, duration=duration, text=row[column], language=language, split=split,
                        custom={"source": "audiofolder"})


VIMEDCSS_SPLITS = {"train": "train", "dev": "validation", "test": "test", "hard": "hard"}  # ours -> HF split name
_VIMEDCSS_COLUMNS = ("segment_id", "segment_text", "cs_terms_list")


def _encoded_audio_for_manifest(data: bytes, where: str, out_dir: Path, utt_id: str) -> tuple[str, float]:
    """Decode an embedded audio file (HF ``Audio(decode=False)`` bytes) into ``<out_dir>/audio/<id>.wav``
    at 16 kHz mono; returns its path relative to ``out_dir`` and its duration."""
    try:
        samples, rate = soundfile.read(io.BytesIO(data), dtype="float32", always_2d=True)
    except Exception as error:
        raise AudioError(f"{where}: cannot decode the embedded audio: {error}") from None
    target = out_dir / "audio" / f"{utt_id}.wav"
    duration = write_wav(target, resample(samples.mean(axis=1), rate))
    return str(target.resolve().relative_to(out_dir.resolve())), round(duration, 3)


def _cs_terms(value: object, where: Path | str, line: int | None) -> tuple[str, ...]:
    """``cs_terms_list`` as a tuple of distinct terms, in their order (see the module docstring)."""
    if value is None:
        return ()
    if hasattr(value, "tolist"):  # a numpy/pyarrow array from a list-typed column
        value = value.tolist()
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                value = json.loads(text)
            except ValueError:
                try:
                    value = ast.literal_eval(text)
                except (ValueError, SyntaxError):
                    raise ManifestError(where, line, "cs_terms_list",
                                        f"cannot parse the term list {text[:60]!r}") from None
        else:
            delimiter = next((d for d in ";|," if d in text), None)
            value = text.split(delimiter) if delimiter else [text]
            value = [term for term in (t.strip() for t in value) if term]
    if not isinstance(value, (list, tuple)) or not all(isinstance(t, str) for t in value):
        raise ManifestError(where, line, "cs_terms_list", f"must be a list of strings, got {value!r:.60}")
    return tuple(dict.fromkeys(t.strip() for t in value if t.strip()))


def _term_spans(text: str, terms: tuple[str, ...], language: str = "en") -> tuple[tuple[Span, ...], list[str]]:
    """Non-overlapping spans of the terms in ``text`` (case-insensitive, whole words, longest term
    first), and the terms not found."""
    taken = [False] * len(text)
    spans, missing = [], []
    for term in sorted(terms, key=lambda t: (-len(t), t)):
        found = False
        for match in re.finditer(rf"(?<!\w){re.escape(term)}(?!\w)", text, flags=re.IGNORECASE):
            if not any(taken[match.start():match.end()]):
                taken[match.start():match.end()] = [True] * (match.end() - match.start())
                spans.append(Span(match.start(), match.end(), language))
                found = True
        if not found:
            missing.append(term)
    return tuple(sorted(spans, key=lambda s: s.start)), sorted(missing, key=terms.index)


def _vimedcss_rows(root: Path, subset: str) -> Iterator[tuple[str, int | None, dict, Path]]:
    """(where, line, row, directory audio paths are relative to) per row of one split."""
    data_dir = root / "data" if (root / "data").is_dir() else root
    shards = sorted(data_dir.glob(f"{VIMEDCSS_SPLITS[subset]}-*.parquet"))
    if shards:
        import pyarrow.parquet as pq

        for shard in shards:
            try:
                parquet = pq.ParquetFile(shard)
            except Exception as error:
                raise ManifestError(shard, None, None, f"cannot read parquet: {error}") from None
            names = parquet.schema_arrow.names
            for column in ("audio", *_VIMEDCSS_COLUMNS):
                if column not in names:
                    raise ManifestError(shard, None, column, f"missing column (the shard has {', '.join(names)})")
            number = 0
            for batch in parquet.iter_batches(batch_size=32):  # shards are ~0.5 GB of embedded audio
                for row in batch.to_pylist():
                    number += 1
                    yield f"{shard} row {number}", None, row, shard.parent
        return
    folders = [root / name for name in dict.fromkeys((subset, VIMEDCSS_SPLITS[subset]))]
    for folder in folders:
        metadata = _metadata_rows(folder)
        if metadata is not None:
            source, rows = metadata
            for number, row in rows:
                yield str(source), number, row, folder
            return
    raise LayoutError(
        f"{root}: no ViMedCSS {subset} split: expected {data_dir}/{VIMEDCSS_SPLITS[subset]}-*.parquet "
        f"(the HF repository) or {folders[-1]}/metadata.jsonl|csv (an exported audio folder)")


def vimedcss(root: Path, out_dir: Path, subset: str, split: str | None = None) -> Iterator[Utterance]:
    """One ViMedCSS split (``subset``: train, dev, test or hard) of the corpus at ``root`` (the HF
    repository snapshot, or its ``data`` directory, or a folder of exported split folders).
    ``split`` is the manifest's split (default: ``subset``, and ``test`` for ``hard``)."""
    if subset not in VIMEDCSS_SPLITS:
        raise ConfigError(f"ViMedCSS split must be one of {', '.join(VIMEDCSS_SPLITS)}, got {subset!r}")
    split = split or ("test" if subset == "hard" else subset)
    for where, line, row, base in _vimedcss_rows(root, subset):
        audio_column = "audio" if "audio" in row else "file_name"
        for column in (audio_column, *_VIMEDCSS_COLUMNS):
            if column not in row:
                raise ManifestError(where, line, column, "missing")
        utt_id, text = str(row["segment_id"] or "").strip(), str(row["segment_text"] or "").strip()
        if not utt_id:
            raise ManifestError(where, line, "segment_id", "is empty")
        if not text:
            raise ManifestError(where, line, "segment_text", "is empty")
        terms = _cs_terms(row["cs_terms_list"], where, line)
        audio_value = row[audio_column]
        if isinstance(audio_value, dict) and audio_value.get("bytes"):
            audio, duration = _encoded_audio_for_manifest(audio_value["bytes"], where, out_dir, utt_id)
        else:
            relative = audio_value.get("path") if isinstance(audio_value, dict) else audio_value
            if not relative:
                raise ManifestError(where, line, audio_column, "neither audio bytes nor a path")
            source = Path(relative) if Path(relative).is_absolute() else base / relative
            if not source.is_file() and (root / relative).is_file():
                source = root / relative
            if not source.is_file():
                raise ManifestError(where, line, audio_column, f"audio file not found: {source}")
            audio, duration = _audio_for_manifest(source, out_dir, utt_id)
        spans, missing = _term_spans(text, terms)
        custom = {"source": "vimedcss", "subset": subset}
        for key in ("topic", "cs_terms_count", "original_video_link", "start_time", "end_time"):
            if row.get(key) not in (None, ""):
                custom[key] = row[key]
        if missing:
            custom["terms_not_in_text"] = missing
        yield Utterance(id=utt_id, audio=audio, duration=duration, text=text, language="vi", split=split,
                        hotwords=terms, spans=spans, custom=custom)


def hotword_list(utterances: list[Utterance]) -> list[str]:
    """The union of the utterances' hotwords, sorted, as the hotword reader reads a list back
    (``workbench.text.hotwords``): whitespace collapsed, one spelling per phrase (spellings that
    differ only in case: the first in sorted order)."""
    spellings: dict[str, str] = {}
    for word in sorted({normalize_phrase(word) for utt in utterances for word in utt.hotwords} - {""}):
        spellings.setdefault(hotword_key(word), word)
    return sorted(spellings.values())


CONVERTERS = {"kaldi": kaldi, "cs_fleurs": cs_fleurs, "aishell_ne": aishell_ne, "audiofolder": audiofolder,
              "vimedcss": vimedcss}


def convert(layout: str, source: Path, out_dir: Path, language: str | None = None, split: str | None = None,
            audio: Path | None = None, subset: str | None = None) -> Iterator[Utterance]:
    """The utterances of a corpus in ``layout`` (a key of ``CONVERTERS``); ``split`` defaults to
    test (vimedcss: from ``subset``). Options a layout needs but lacks are a ``ConfigError``."""
    if layout not in CONVERTERS:
        raise ConfigError(f"unknown corpus layout {layout!r}; known: {', '.join(CONVERTERS)}")
    if layout in ("kaldi", "audiofolder") and not language:
        raise ConfigError(f"{layout}: pass --language (the layout does not record it)")
    if layout == "aishell_ne" and audio is None:
        raise ConfigError("aishell_ne: pass --audio (AISHELL-1's wav/<split> directory)")
    if layout == "vimedcss":
        if subset is None:
            raise ConfigError(f"vimedcss: pass --subset ({', '.join(VIMEDCSS_SPLITS)}); "
                              "each split is converted separately")
        return vimedcss(source, out_dir, subset, split)
    if layout == "aishell_ne":
        return aishell_ne(source, audio, out_dir, split or "test")
    if layout in ("kaldi", "audiofolder"):
        return CONVERTERS[layout](source, out_dir, language, split or "test")
    return cs_fleurs(source, out_dir, split or "test")
