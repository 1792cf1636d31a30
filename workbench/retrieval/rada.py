"""Robustness-Aware Data Augmentation, RADA (seed 001 §2.2.1): shrink a hotword vocabulary.

Every extra hotword lowers retrieval recall and adds a distractor to the bias prompt, so words
the base ASR already gets right need no biasing. For each word: speak it with TTS inside a few
carrier sentences, decode each clip greedily with the base Whisper, and call the word
*reliably recognized* when the normalized word appears in at least ``min_recognized`` of the
normalized hypotheses. Those words are dropped; the rest are kept. The synthesized clips are
returned too: they are (audio, hotword) pairs for retriever training.

Work proceeds batch by batch (``iter_rada``) so a stage can store each word as it is decided and
resume: ``rada_records`` writes a word's clips and yields its record, ``pending_batches`` are the
batches left to decide (a stored word whose clips are gone is not done), ``rada_outcome``
assembles the files of a finished run and ``install_clips`` moves the clips into the output.
"""

from __future__ import annotations

import hashlib
import os
import random
import re
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from workbench.asr.transcribe import TranscribeOptions, transcribe_batch
from workbench.data import Utterance, write_wav
from workbench.text import build_normalizer, is_cjk
from workbench.text.normalize import Normalizer

if TYPE_CHECKING:
    from workbench.retrieval.options import RadaConfig

# whisper_basic lower-cases and turns symbols into spaces; "simplified" because Whisper often
# writes traditional characters for Mandarin audio, which would keep a word it did recognize
RADA_NORMALIZATION = ("width", "simplified", "whisper_basic", "punctuation", "lower", "spaces")
WORD_SLOT = "{word}"


@dataclass(frozen=True)
class RadaOptions:
    carriers: tuple[str, ...] = ("{word}.",)  # sentences with a "{word}" slot
    renditions: int = 1  # clips per word, each in a different carrier
    min_recognized: float = 1.0  # share of clips that must contain the word for "reliably recognized"
    seed: int = 0  # carrier choice per word: a hash of (seed, word), independent of batch order
    clips_per_batch: int = 8  # clips per TTS + decoding batch (whole words: at least one word a batch)
    normalization: tuple[str, ...] = RADA_NORMALIZATION
    # greedy and no temperature fallback: the decision must not depend on sampling luck
    transcribe: TranscribeOptions = field(default_factory=lambda: TranscribeOptions(fallback_temperatures=()))

    def __post_init__(self) -> None:
        if not self.carriers or any(WORD_SLOT not in c for c in self.carriers):
            raise ValueError(f"every carrier needs a {WORD_SLOT} slot, got {list(self.carriers)}")
        # every engine is deterministic: a repeated carrier would give an identical clip
        if not 1 <= self.renditions <= len(set(self.carriers)):
            raise ValueError(f"renditions must be between 1 and the {len(set(self.carriers))} distinct carriers, "
                             f"got {self.renditions}")
        if not 0.0 < self.min_recognized <= 1.0:
            raise ValueError(f"min_recognized must be in (0, 1], got {self.min_recognized}")
        if self.clips_per_batch < 1:
            raise ValueError(f"clips_per_batch must be at least 1, got {self.clips_per_batch}")


@dataclass(frozen=True)
class RadaDecision:
    """One word's test: the sentences spoken, what the ASR heard, and the verdict."""

    word: str
    carriers: tuple[str, ...]  # the templates used, one per rendition
    texts: tuple[str, ...]  # the carrier sentences with the word filled in
    hypotheses: tuple[str, ...]
    recognized: tuple[bool, ...]
    reliably_recognized: bool
    languages: tuple[str, ...] = ()  # Whisper's language per clip (the forced one when set)

    @property
    def recognized_share(self) -> float:
        return sum(self.recognized) / len(self.recognized) if self.recognized else 0.0

    def to_json(self) -> dict:
        return {
            "word": self.word, "carriers": list(self.carriers), "texts": list(self.texts),
            "hypotheses": list(self.hypotheses), "recognized": list(self.recognized),
            "recognized_share": round(self.recognized_share, 6), "reliably_recognized": self.reliably_recognized,
            "languages": list(self.languages),
        }

    @classmethod
    def from_json(cls, record: dict) -> RadaDecision:
        """Inverse of ``to_json``; extra keys (a stage's clip paths) are ignored."""
        return cls(
            word=record["word"], carriers=tuple(record["carriers"]), texts=tuple(record["texts"]),
            hypotheses=tuple(record["hypotheses"]), recognized=tuple(bool(r) for r in record["recognized"]),
            reliably_recognized=bool(record["reliably_recognized"]), languages=tuple(record.get("languages", ())),
        )


@dataclass(frozen=True)
class RadaBatch:
    """One batch's decisions with their clips (``clips[i][k]`` speaks ``decisions[i].texts[k]``)."""

    decisions: tuple[RadaDecision, ...]
    clips: tuple[tuple[np.ndarray, ...], ...]
    tts_seconds: float
    asr_seconds: float


@dataclass(frozen=True)
class RadaResult:
    """The filtered vocabulary: reliably recognized words dropped, the rest kept (input order)."""

    decisions: tuple[RadaDecision, ...]
    kept: tuple[str, ...]
    dropped: tuple[str, ...]

    @classmethod
    def from_decisions(cls, decisions: Iterable[RadaDecision]) -> RadaResult:
        decisions = tuple(decisions)
        return cls(
            decisions,
            tuple(d.word for d in decisions if not d.reliably_recognized),
            tuple(d.word for d in decisions if d.reliably_recognized),
        )

    @property
    def before(self) -> int:
        return len(self.decisions)

    @property
    def after(self) -> int:
        return len(self.kept)

    def recognition_by_rendition(self) -> dict[str, float]:
        """Recognized share of the k-th clip of every word (k = 1..renditions)."""
        columns: dict[int, list[bool]] = {}
        for decision in self.decisions:
            for k, flag in enumerate(decision.recognized, start=1):
                columns.setdefault(k, []).append(flag)
        return {f"rendition_{k}": sum(flags) / len(flags) for k, flags in sorted(columns.items())}

    def recognition_by_carrier(self) -> dict[str, float]:
        """Recognized share per carrier template: does an isolated word fare worse than one in a sentence?"""
        hits: Counter[str] = Counter()
        totals: Counter[str] = Counter()
        for decision in self.decisions:
            for carrier, flag in zip(decision.carriers, decision.recognized):
                totals[carrier] += 1
                hits[carrier] += flag
        return {carrier: hits[carrier] / totals[carrier] for carrier in totals}

    def as_metrics(self) -> dict[str, float]:
        clips = [flag for d in self.decisions for flag in d.recognized]
        metrics = {
            "before": float(self.before),
            "after": float(self.after),
            "dropped": float(len(self.dropped)),
            "dropped_share": len(self.dropped) / self.before if self.before else 0.0,
            "clips": float(len(clips)),
            "clip_recognition_rate": sum(clips) / len(clips) if clips else 0.0,
        }
        metrics.update({f"recognition_rate_{k}": v for k, v in self.recognition_by_rendition().items()})
        return metrics


def choose_carriers(word: str, carriers: Sequence[str], renditions: int, seed: int) -> tuple[str, ...]:
    """``renditions`` distinct carriers for ``word``, the same on every run and in any batch order."""
    distinct = list(dict.fromkeys(carriers))
    digest = hashlib.sha256(f"{seed}\0{word}".encode()).digest()
    return tuple(random.Random(int.from_bytes(digest[:8], "big")).sample(distinct, renditions))


def fill_carrier(carrier: str, word: str) -> str:
    # str.replace, not str.format: a carrier may contain other braces
    return carrier.replace(WORD_SLOT, word)


def contains_hotword(hypothesis: str, word: str, normalizer: Normalizer) -> bool:
    """Whether the normalized ``word`` occurs in the normalized ``hypothesis``.

    Latin-script words (and multi-word phrases, as a whole) must match on word boundaries, so
    "Ann" is not found in "announce"; words with CJK characters match as a plain substring with
    spaces ignored, since CJK text has no word boundaries to respect.
    """
    target, heard = normalizer(word), normalizer(hypothesis)
    if not target:
        return False
    if any(is_cjk(c) for c in target):
        return target.replace(" ", "") in heard.replace(" ", "")
    return re.search(rf"(?<!\w){re.escape(target)}(?!\w)", heard) is not None


def decide_batch(words: Sequence[str], engine, model, options: RadaOptions) -> RadaBatch:
    """Synthesize, decode and judge ``words`` (all of their clips in one TTS call and one decoding batch)."""
    normalizer = build_normalizer(options.normalization)
    plans = [choose_carriers(w, options.carriers, options.renditions, options.seed) for w in words]
    texts = [fill_carrier(c, w) for w, plan in zip(words, plans) for c in plan]
    started = time.perf_counter()
    audio = engine.synthesize(texts)
    tts_done = time.perf_counter()
    decoding = options.transcribe
    if decoding.language is None and not model.is_multilingual:
        decoding = replace(decoding, language="en")  # an English-only model cannot detect languages
    transcriptions = transcribe_batch(model, audio, decoding)
    asr_done = time.perf_counter()
    decisions, clips = [], []
    for i, (word, plan) in enumerate(zip(words, plans)):
        span = slice(i * options.renditions, (i + 1) * options.renditions)
        heard = transcriptions[span]
        recognized = tuple(contains_hotword(t.text, word, normalizer) for t in heard)
        decisions.append(RadaDecision(
            word=word, carriers=plan, texts=tuple(texts[span]), hypotheses=tuple(t.text for t in heard),
            recognized=recognized,
            # a tolerance so that 2/3 >= 0.6667 style thresholds behave as written
            reliably_recognized=sum(recognized) / len(recognized) >= options.min_recognized - 1e-9,
            languages=tuple(t.language for t in heard),
        ))
        clips.append(tuple(audio[span]))
    return RadaBatch(tuple(decisions), tuple(clips), tts_done - started, asr_done - tts_done)


def word_batches(words: Sequence[str], options: RadaOptions) -> list[tuple[str, ...]]:
    """``words`` in batches of about ``options.clips_per_batch`` clips (whole words, one at least)."""
    per_batch = max(1, options.clips_per_batch // options.renditions)
    return [tuple(words[first : first + per_batch]) for first in range(0, len(words), per_batch)]


def iter_rada(words: Sequence[str], engine, model, options: RadaOptions) -> Iterator[RadaBatch]:
    """``decide_batch`` over ``words`` in batches of about ``options.clips_per_batch`` clips."""
    for batch in word_batches(words, options):
        yield decide_batch(list(batch), engine, model, options)


def run_rada(words: Sequence[str], engine, model, options: RadaOptions) -> RadaResult:
    """All words at once, clips discarded: for callers that only want the filtered vocabulary."""
    return RadaResult.from_decisions(d for batch in iter_rada(words, engine, model, options) for d in batch.decisions)


# --- a stage's run: clips on disk, records, the finished files -----------------------------------


def clip_id(word: str, rendition: int) -> str:
    """A file-safe id, readable and unique: a slug of the word plus a hash of it."""
    slug = re.sub(r"\W+", "_", word).strip("_")[:40] or "word"
    digest = hashlib.sha1(word.encode()).hexdigest()[:8]
    return f"rada-{slug}-{digest}-{rendition}"


@dataclass
class RadaTimings:
    """Wall-clock of a run (from construction) and the TTS / ASR / audio seconds of the words it decided."""

    started: float = field(default_factory=time.perf_counter)
    tts_seconds: float = 0.0
    asr_seconds: float = 0.0
    audio_seconds: float = 0.0

    def as_json(self, decided: int, resumed: int) -> dict:
        elapsed = time.perf_counter() - self.started
        return {
            "seconds": round(elapsed, 3), "tts_seconds": round(self.tts_seconds, 3),
            "asr_seconds": round(self.asr_seconds, 3), "words_decided": decided, "words_resumed": resumed,
            "audio_seconds": round(self.audio_seconds, 3),
            "seconds_per_word": round(elapsed / decided, 4) if decided else None,
        }


def pending_batches(words: Sequence[str], stored: Mapping[str, dict], clip_dirs: Sequence[Path],
                    options: RadaOptions) -> list[tuple[str, ...]]:
    """The batches of ``words`` (``word_batches``) holding a word without a usable stored record
    (``usable_records``). A verdict can depend on the other clips of its batch (the decoding
    budget follows the batch's longest clip), so a resumed run decides such a batch whole again,
    exactly as an uninterrupted run decides it."""
    done = usable_records(stored, clip_dirs)
    return [batch for batch in word_batches(words, options) if any(word not in done for word in batch)]


def rada_records(batches: Sequence[Sequence[str]], engine, model, options: RadaOptions, clips_dir: Path,
                 timings: RadaTimings) -> Iterator[dict]:
    """Decide ``batches`` of words; yields each word's record (its decision and its clips), after
    writing the clips into ``clips_dir``, so a stored record always has its clips on disk."""
    clips_dir.mkdir(parents=True, exist_ok=True)
    for words in batches:
        batch = decide_batch(list(words), engine, model, options)
        timings.tts_seconds += batch.tts_seconds
        timings.asr_seconds += batch.asr_seconds
        for decision, audio in zip(batch.decisions, batch.clips):
            clips = []
            for rendition, samples in enumerate(audio, start=1):
                uid = clip_id(decision.word, rendition)
                duration = write_wav(clips_dir / f"{uid}.wav", samples)
                timings.audio_seconds += duration
                clips.append({"id": uid, "audio": f"{uid}.wav", "duration": round(duration, 4)})
            yield {**decision.to_json(), "clips": clips}


def usable_records(records: Mapping[str, dict], clip_dirs: Sequence[Path]) -> dict[str, dict]:
    """The stored records whose every clip is in one of ``clip_dirs``; a word whose clips are gone
    (``dvc repro`` deletes the output's clips/ before it reruns the stage) is decided again."""
    return {word: record for word, record in records.items()
            if all(any((d / clip["audio"]).is_file() for d in clip_dirs) for clip in record["clips"])}


@dataclass(frozen=True)
class RadaOutcome:
    """A finished run's files: decisions.jsonl records, the clips' manifest, rada.json, tracked metrics."""

    result: RadaResult
    records: tuple[dict, ...]  # in vocabulary order
    utterances: tuple[Utterance, ...]  # clips/manifest.jsonl: train-split (audio, hotword) pairs
    summary: dict  # rada.json
    metrics: dict[str, float]

    @property
    def kept_text(self) -> str:
        """kept.txt: one word a line (the filtered hotword list)."""
        return "".join(w + "\n" for w in self.result.kept)

    @property
    def dropped_text(self) -> str:
        return "".join(w + "\n" for w in self.result.dropped)


def rada_outcome(words: Sequence[str], records: Mapping[str, dict], config: RadaConfig, duplicates: int,
                 timings: RadaTimings, decided: int) -> RadaOutcome:
    """The verdicts of ``words`` (every one in ``records``) as the stage's outputs."""
    ordered = tuple(records[w] for w in words)
    result = RadaResult.from_decisions(RadaDecision.from_json(r) for r in ordered)
    utterances = tuple(_clip_utterances(ordered, config))
    metrics = result.as_metrics()
    times = timings.as_json(decided, len(words) - decided)
    summary = {
        "before": result.before, "after": result.after, "dropped": len(result.dropped),
        "dropped_share": round(metrics["dropped_share"], 6), "duplicates": duplicates,
        "clips": len(utterances), "clip_recognition_rate": round(metrics["clip_recognition_rate"], 6),
        "recognition_rate": {k: round(v, 6) for k, v in result.recognition_by_rendition().items()},
        "recognition_rate_by_carrier": {k: round(v, 6) for k, v in result.recognition_by_carrier().items()},
        "timings": times, "model": config.model, "engine": config.engine,
        "renditions": config.renditions, "min_recognized": config.min_recognized,
    }
    tracked = {**metrics, "duplicates": float(duplicates),
               **{f"timing_{k}": float(v) for k, v in times.items() if v is not None}}
    return RadaOutcome(result, ordered, utterances, summary, tracked)


def _clip_utterances(records: Iterable[dict], config: RadaConfig) -> Iterator[Utterance]:
    for record in records:
        status = "dropped" if record["reliably_recognized"] else "kept"
        clips = zip(record["clips"], record["texts"], record["recognized"], record["languages"])
        for clip, text, recognized, language in clips:
            yield Utterance(
                id=clip["id"], audio=clip["audio"], duration=clip["duration"], text=text,
                language=config.language or language, split="train", hotwords=(record["word"],),
                speaker=f"tts:{config.engine}", custom={"rada": status, "recognized": recognized},
            )


def install_clips(utterances: Iterable[Utterance], staging: Path, clips_dir: Path) -> None:
    """Move the clips of ``utterances`` from ``staging`` (where an unfinished run keeps them) into
    ``clips_dir``, and delete the WAVs there that no utterance refers to (words no longer in the
    vocabulary). A clip already in ``clips_dir`` (moved by a run killed while finishing) stays."""
    clips_dir.mkdir(parents=True, exist_ok=True)
    referenced = set()
    for utterance in utterances:
        referenced.add(utterance.audio)
        if (staging / utterance.audio).is_file():
            os.replace(staging / utterance.audio, clips_dir / utterance.audio)
    for stale in clips_dir.glob("*.wav"):
        if stale.name not in referenced:
            stale.unlink()
