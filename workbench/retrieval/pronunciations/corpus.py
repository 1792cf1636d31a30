"""A pronunciation corpus run: clips on disk, one record per term, the finished files.

Work proceeds in batches of terms (``corpus_records``) so a stage can store each term as it is
done and resume: a term's record is yielded after its clips are written, ``pending_terms`` are
the terms without a usable record (one whose clips are all on disk), ``corpus_outcome``
assembles the manifest, terms list and statistics of a finished run, and ``install_clips`` moves
the clips from the resume state into the output's ``clips/<shard>/``.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from workbench.data import Span, Utterance, write_wav
from workbench.retrieval.pronunciations.renditions import ClipPlan, SynthesisTimings, synthesize
from workbench.retrieval.pronunciations.terms import TermSelection

LANGUAGE = "en"
CLIPS = "clips"  # the clips' directory below the corpus output (manifest audio paths start with it)


@dataclass
class CorpusTimings:
    """Wall-clock of a run (from construction), its TTS and effects seconds and the clips it made."""

    started: float = field(default_factory=time.perf_counter)
    synthesis: SynthesisTimings = field(default_factory=SynthesisTimings)
    clips: int = 0
    audio_seconds: float = 0.0

    def as_json(self, terms_made: int, terms_resumed: int) -> dict:
        elapsed = time.perf_counter() - self.started
        return {
            "seconds": round(elapsed, 3), "tts_seconds": round(self.synthesis.tts_seconds, 3),
            "effects_seconds": round(self.synthesis.effects_seconds, 3), "terms_made": terms_made,
            "terms_resumed": terms_resumed, "clips_made": self.clips,
            "audio_seconds_made": round(self.audio_seconds, 3),
            "clips_per_second": round(self.clips / elapsed, 3) if self.clips and elapsed > 0 else None,
        }


def clip_record(plan: ClipPlan, duration: float) -> dict:
    switched = {"language": plan.language, "spans": [list(s) for s in plan.spans]} if plan.segments else {}
    return {"id": plan.id, "audio": plan.audio, "duration": round(duration, 4), "text": plan.text, "kind": plan.kind,
            "voice": plan.voice, "template": plan.template, "speed": plan.speed, "snr_db": plan.snr_db,
            "noise": plan.noise, **switched}


def usable_records(records: Mapping[str, dict], clip_dirs: Sequence[Path]) -> dict[str, dict]:
    """The stored records whose every clip is in one of ``clip_dirs`` (``dvc repro`` deletes the
    output's clips/ before it reruns the stage: a term whose clips are gone is made again)."""
    return {term: record for term, record in records.items()
            if all(any((d / clip["audio"]).is_file() for d in clip_dirs) for clip in record["clips"])}


def pending_terms(plans: Sequence[tuple[ClipPlan, ...]], stored: Mapping[str, dict], clip_dirs: Sequence[Path]
                  ) -> list[tuple[ClipPlan, ...]]:
    done = usable_records(stored, clip_dirs)
    return [term_plans for term_plans in plans if term_plans[0].term.text not in done]


def corpus_records(pending: Sequence[tuple[ClipPlan, ...]], voices: Callable[[str], object], clips_dir: Path,
                   batch_size: int, timings: CorpusTimings) -> Iterator[dict]:
    """Synthesize the clips of ``pending`` terms, ``batch_size`` terms a batch; yields each term's
    record after writing its clips below ``clips_dir``, so a stored record has its clips on disk."""
    for first in range(0, len(pending), batch_size):
        batch = pending[first : first + batch_size]
        flat = [plan for term_plans in batch for plan in term_plans]
        audio = iter(synthesize(flat, voices, timings.synthesis))
        for term_plans in batch:
            clips = []
            for plan in term_plans:
                duration = write_wav(clips_dir / plan.audio, next(audio))
                timings.clips += 1
                timings.audio_seconds += duration
                clips.append(clip_record(plan, duration))
            term = term_plans[0].term
            yield {"term": term.text, "category": term.category, "spoken": term.spoken, "clips": clips}


def clip_utterances(records: Iterable[dict], language: str = LANGUAGE) -> Iterator[Utterance]:
    """A switched clip is in its sentence's language, with its spans in ``language`` (the term's and others)."""
    for record in records:
        for clip in record["clips"]:
            variation = {k: clip[k] for k in ("speed", "snr_db", "noise") if clip[k] not in (None, 1.0)}
            spans = tuple(Span(start, end, language) for start, end in clip.get("spans", ()))
            yield Utterance(
                id=clip["id"], audio=f"{CLIPS}/{clip['audio']}", duration=clip["duration"], text=clip["text"],
                language=clip.get("language", language), split="train", hotwords=(record["term"],), spans=spans,
                speaker=f"tts:{clip['voice']}",
                custom={"kind": clip["kind"], "category": record["category"], "voice": clip["voice"],
                        "template": clip["template"], **variation},
            )


@dataclass(frozen=True)
class CorpusOutcome:
    """A finished run's files: the clips' manifest, terms.txt and stats.json."""

    utterances: tuple[Utterance, ...]
    terms: tuple[str, ...]
    stats: dict

    @property
    def terms_text(self) -> str:
        return "".join(t + "\n" for t in self.terms)

    @property
    def clip_paths(self) -> tuple[str, ...]:
        """The clips' paths below clips/."""
        return tuple(u.audio.removeprefix(f"{CLIPS}/") for u in self.utterances)


def corpus_outcome(selection: TermSelection, records: Mapping[str, dict], excluded_hotwords: int, templates: int,
                   timings: CorpusTimings, terms_made: int, language: str = LANGUAGE) -> CorpusOutcome:
    """The outputs of a run whose every selected term has a record (``language``: the clips')."""
    terms = tuple(t.text for t in selection.terms)
    ordered = [records[t] for t in terms]
    utterances = tuple(clip_utterances(ordered, language))
    clips = [clip for record in ordered for clip in record["clips"]]
    stats = {
        "terms": len(terms), "clips": len(utterances),
        "audio_seconds": round(sum(u.duration for u in utterances), 3),
        "categories": selection.counts(),
        "kinds": dict(Counter(c["kind"] for c in clips)),
        "voices": dict(sorted(Counter(c["voice"] for c in clips).items())),
        "effects": {"speed": sum(c["speed"] != 1.0 for c in clips),
                    "noise": sum(c["snr_db"] is not None for c in clips)},
        "excluded_hotwords": excluded_hotwords,
        "rejected_by_exclusion": {c: selection.rejected[c] for c in selection.categories},
        "sentence_templates": templates,
        "timings": timings.as_json(terms_made, len(terms) - terms_made),
    }
    return CorpusOutcome(utterances, terms, stats)


def install_clips(paths: Iterable[str], staging: Path, clips_dir: Path) -> None:
    """Move the clips at ``paths`` (below clips/) from ``staging`` (where an unfinished run keeps
    them) into ``clips_dir``, and delete the WAVs there that no path refers to. A clip already in
    ``clips_dir`` (moved by a run killed while finishing) stays."""
    clips_dir.mkdir(parents=True, exist_ok=True)
    referenced = set()
    for path in paths:
        referenced.add(path)
        if (staging / path).is_file():
            (clips_dir / path).parent.mkdir(parents=True, exist_ok=True)
            os.replace(staging / path, clips_dir / path)
    for stale in clips_dir.rglob("*.wav"):
        if stale.relative_to(clips_dir).as_posix() not in referenced:
            stale.unlink()
    for folder in sorted((p for p in clips_dir.iterdir() if p.is_dir()), reverse=True):
        if not any(folder.iterdir()):
            folder.rmdir()
