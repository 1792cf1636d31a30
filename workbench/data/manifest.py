"""Utterance manifests: validated records in jsonl (DESIGN.md §4).

One JSON object a line. Reading validates every line and raises ``ManifestError`` naming the
file, the line and the field, so a bad corpus fails at the door rather than mid-training.
"""

from __future__ import annotations

import gzip
import json
import math
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import soundfile

from workbench.data.atomic import atomic_path
from workbench.errors import ManifestError

SAMPLE_RATE = 16_000
SPLITS = ("train", "dev", "test")
# ISO 639-1 codes Whisper knows, plus the ISO 639-3 forms the corpora use for matrix languages.
LANGUAGES = frozenset(
    "en zh vi de es ru ko fr ja pt tr pl ca nl ar sv it id hi fi uk el ms cs ro da hu ta no th ur "
    "hr bg lt la mi ml cy sk te fa lv bn sr az sl kn et mk br eu is hy ne mn bs kk sq sw gl mr pa "
    "si km sn yo so af oc ka be tg sd gu am yi lo uz fo ht ps tk nn mt sa lb my bo tl mg as tt haw "
    "ln ha ba jw su yue cmn vie eng".split()
)
REQUIRED = ("id", "audio", "duration", "text", "language", "split")
OPTIONAL = ("hotwords", "spans", "speaker", "custom")


@dataclass(frozen=True)
class Span:
    """An embedded-language span of ``text``: characters [start, end) spoken in ``language``."""

    start: int
    end: int
    language: str


@dataclass(frozen=True)
class Utterance:
    id: str
    audio: str  # path relative to the manifest's directory (absolute paths are kept as given)
    duration: float  # seconds
    text: str  # reference transcript
    language: str  # matrix language
    split: str
    hotwords: tuple[str, ...] = ()  # biasing words present in the utterance
    spans: tuple[Span, ...] = ()
    speaker: str | None = None
    custom: dict = field(default_factory=dict)

    def audio_path(self, manifest_dir: Path | str) -> Path:
        path = Path(self.audio)
        return path if path.is_absolute() else Path(manifest_dir) / path

    def to_json(self) -> dict:
        record = asdict(self)
        record["hotwords"] = list(self.hotwords)
        record["spans"] = [asdict(s) for s in self.spans]
        return {k: v for k, v in record.items() if v not in (None, [], {}) or k in REQUIRED}


def _check(condition: bool, path, line, field_name, problem) -> None:
    if not condition:
        raise ManifestError(path, line, field_name, problem)


def parse_record(record: object, path: Path | str, line: int | None) -> Utterance:
    """Validate one decoded JSON object and build the Utterance (no file-system checks)."""
    _check(isinstance(record, dict), path, line, None, "a line must be a JSON object")
    for name in REQUIRED:
        _check(name in record, path, line, name, "is missing")
    unknown = sorted(set(record) - set(REQUIRED) - set(OPTIONAL))
    _check(not unknown, path, line, unknown[0] if unknown else None, "is not a manifest field")
    for name in ("id", "audio", "text", "language", "split"):
        _check(isinstance(record[name], str), path, line, name, "must be a string")
    _check(record["id"].strip() != "", path, line, "id", "is empty")
    _check(record["text"].strip() != "", path, line, "text", "is empty")
    _check(record["audio"].strip() != "", path, line, "audio", "is empty")
    duration = record["duration"]
    _check(
        isinstance(duration, (int, float)) and not isinstance(duration, bool) and math.isfinite(duration)
        and duration > 0,
        path, line, "duration", f"must be a positive number of seconds, got {duration!r}",
    )
    _check(record["language"] in LANGUAGES, path, line, "language", f"unknown language {record['language']!r}")
    _check(record["split"] in SPLITS, path, line, "split", f"must be one of {SPLITS}, got {record['split']!r}")
    hotwords = record.get("hotwords", [])
    _check(
        isinstance(hotwords, list) and all(isinstance(h, str) and h.strip() for h in hotwords),
        path, line, "hotwords", "must be a list of non-empty strings",
    )
    spans = []
    for raw in record.get("spans", []) or []:
        _check(
            isinstance(raw, dict) and set(raw) == {"start", "end", "language"},
            path, line, "spans", "each span needs exactly start, end, language",
        )
        ok = (isinstance(raw["start"], int) and isinstance(raw["end"], int)
              and 0 <= raw["start"] < raw["end"] <= len(record["text"]))
        _check(ok, path, line, "spans", f"span {raw['start']}..{raw['end']} is outside the text")
        _check(raw["language"] in LANGUAGES, path, line, "spans", f"unknown language {raw['language']!r}")
        spans.append(Span(raw["start"], raw["end"], raw["language"]))
    speaker = record.get("speaker")
    _check(speaker is None or isinstance(speaker, str), path, line, "speaker", "must be a string")
    custom = record.get("custom", {})
    _check(isinstance(custom, dict), path, line, "custom", "must be an object")
    return Utterance(
        id=record["id"], audio=record["audio"], duration=float(duration), text=record["text"],
        language=record["language"], split=record["split"], hotwords=tuple(hotwords),
        spans=tuple(spans), speaker=speaker, custom=custom,
    )


def check_audio(utt: Utterance, manifest_dir: Path, path: Path | str, line: int | None) -> None:
    """The audio file exists, is readable and is 16 kHz mono."""
    audio = utt.audio_path(manifest_dir)
    _check(audio.is_file(), path, line, "audio", f"file not found: {audio}")
    try:
        info = soundfile.info(str(audio))
    except Exception as error:  # soundfile raises its own RuntimeError subclasses
        raise ManifestError(path, line, "audio", f"cannot read {audio}: {error}") from None
    _check(info.samplerate == SAMPLE_RATE, path, line, "audio",
           f"{audio} is {info.samplerate} Hz, expected {SAMPLE_RATE} Hz")
    _check(info.channels == 1, path, line, "audio", f"{audio} has {info.channels} channels, expected mono")


def _open_text(path: Path):
    return gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")


def iter_manifest(path: Path | str, check_files: bool = True) -> Iterator[Utterance]:
    """Yield validated utterances; raises ManifestError at the first bad line."""
    path = Path(path)
    if not path.is_file():
        raise ManifestError(path, None, None, "manifest file not found")
    seen: dict[str, int] = {}
    with _open_text(path) as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as error:
                raise ManifestError(path, number, None,
                                    f"is not valid UTF-8 ({error.reason} at byte {error.start})") from None
            if not text.strip():
                continue
            try:
                record = json.loads(text)
            except json.JSONDecodeError as error:
                raise ManifestError(path, number, None,
                                    f"is not valid JSON: {error.msg} (column {error.colno})") from None
            utt = parse_record(record, path, number)
            if utt.id in seen:
                raise ManifestError(path, number, "id", f"duplicate id {utt.id!r} (first on line {seen[utt.id]})")
            seen[utt.id] = number
            if check_files:
                check_audio(utt, path.parent, path, number)
            yield utt


def read_manifest(path: Path | str, check_files: bool = True) -> list[Utterance]:
    return list(iter_manifest(path, check_files=check_files))


def write_manifest(path: Path | str, utterances: Iterable[Utterance], check_files: bool = True) -> int:
    """Validate and write atomically; returns the number of records written."""
    path = Path(path)
    seen: set[str] = set()
    count = 0
    with atomic_path(path) as tmp:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(tmp, "wt", encoding="utf-8") as handle:
            for count, utt in enumerate(utterances, start=1):
                record = utt.to_json()
                parse_record(json.loads(json.dumps(record)), path, count)
                if utt.id in seen:
                    raise ManifestError(path, count, "id", f"duplicate id {utt.id!r}")
                seen.add(utt.id)
                if check_files:
                    check_audio(utt, path.parent, path, count)
                handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    return count


def batches_by_language(utterances: Iterable[Utterance], size: int,
                        by_language: bool = True) -> Iterator[tuple[str | None, list[Utterance]]]:
    """Batches of at most ``size`` utterances, one matrix language per batch when ``by_language``
    (Whisper decodes a batch with one language token); the language is None otherwise."""
    if size < 1:
        raise ValueError(f"batch size must be at least 1, got {size}")
    groups: dict[str | None, list[Utterance]] = {}
    for utt in utterances:
        groups.setdefault(utt.language if by_language else None, []).append(utt)
    for language, items in groups.items():
        for start in range(0, len(items), size):
            yield language, items[start : start + size]
