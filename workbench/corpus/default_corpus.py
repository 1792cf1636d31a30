"""The embedded default corpus: committed sentence lists spoken by offline TTS (DESIGN.md §6).

Code-switched sentences are spoken span by span, each span in its language's voice, and joined
with short gaps. Segments are synthesized once per (engine, text), so a term that occurs in
many sentences is spoken identically everywhere. The split is a seeded shuffle of sentence
indices: no sentence is in two splits and the corpus is identical on every run.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from workbench.corpus.marked_text import MarkedSentence, read_marked
from workbench.corpus.options import SplitSizes
from workbench.data.audio import write_wav
from workbench.data.manifest import SAMPLE_RATE, Span, Utterance
from workbench.tts import TTSEngine


@dataclass(frozen=True)
class PairSpec:
    """One sub-corpus: which file, which languages, which voices."""

    name: str  # e.g. "cmn_eng"; also the sentence file's stem
    matrix_language: str  # Whisper code of the matrix language
    embedded_language: str  # Whisper code of the marked spans
    matrix_engine: str  # engine spec for unmarked text
    embedded_engine: str  # engine spec for marked spans
    marks_are_hotwords: bool  # marked terms go to the manifest's hotwords
    marks_are_spans: bool  # marked terms are embedded-language spans


def trim_silence(samples: np.ndarray, threshold: float = 0.01, keep: float = 0.03) -> np.ndarray:
    """Cut leading/trailing samples below ``threshold`` of the peak, keeping ``keep`` s of margin."""
    if samples.size == 0:
        return samples
    loud = np.flatnonzero(np.abs(samples) > threshold * max(np.abs(samples).max(), 1e-9))
    if loud.size == 0:
        return samples[:0]
    margin = int(keep * SAMPLE_RATE)
    return samples[max(loud[0] - margin, 0) : loud[-1] + margin + 1]


def peak_normalize(samples: np.ndarray, peak: float = 0.8) -> np.ndarray:
    top = float(np.abs(samples).max()) if samples.size else 0.0
    return samples if top == 0 else (samples * (peak / top)).astype(np.float32)


def join_segments(segments: list[np.ndarray], gap: float = 0.06, pad: float = 0.25) -> np.ndarray:
    gap_samples = np.zeros(int(gap * SAMPLE_RATE), dtype=np.float32)
    pad_samples = np.zeros(int(pad * SAMPLE_RATE), dtype=np.float32)
    body: list[np.ndarray] = []
    for i, seg in enumerate(segments):
        if i:
            body.append(gap_samples)
        body.append(peak_normalize(trim_silence(seg)))
    return np.concatenate([pad_samples, *body, pad_samples]).astype(np.float32)


def assign_splits(n: int, sizes: SplitSizes, seed: int) -> list[str | None]:
    """A split name per sentence index (None: not used at this corpus size)."""
    order = list(range(n))
    random.Random(seed).shuffle(order)
    names: list[str | None] = [None] * n
    cursor = 0
    for split, size in (("test", sizes.test), ("dev", sizes.dev), ("train", sizes.train)):
        for index in order[cursor : cursor + size]:
            names[index] = split
        cursor += size
    return names


def plan_segments(sentence: MarkedSentence, pair: PairSpec) -> list[tuple[str, str]]:
    """(engine spec, text) to speak, in order."""
    if not pair.marks_are_spans:
        return [(pair.matrix_engine, sentence.text)]
    return [
        (pair.embedded_engine if marked else pair.matrix_engine, text.strip())
        for text, marked in sentence.segments()
    ]


def build_pair(
    pair: PairSpec,
    sentences: list[MarkedSentence],
    sizes: SplitSizes,
    seed: int,
    audio_dir: Path,
    manifest_dir: Path,
    engine: Callable[[str], TTSEngine],
    progress: Callable[[str, int], None] = lambda _msg, _n: None,
) -> dict[str, list[Utterance]]:
    """Synthesize one sub-corpus; returns utterances per split (audio paths relative to manifest_dir)."""
    splits = assign_splits(len(sentences), sizes, seed)
    chosen = [(i, s) for i, s in enumerate(sentences) if splits[i] is not None]
    plans = {i: plan_segments(s, pair) for i, s in chosen}
    wanted: dict[str, list[str]] = {}
    for plan in plans.values():
        for spec, text in plan:
            if text not in wanted.setdefault(spec, []):
                wanted[spec].append(text)
    audio: dict[tuple[str, str], np.ndarray] = {}
    for spec, texts in wanted.items():
        progress(f"{pair.name}: {spec} speaks {len(texts)} segments", len(texts))
        for text, samples in zip(texts, engine(spec).synthesize(texts)):
            audio[(spec, text)] = samples
    result: dict[str, list[Utterance]] = {"train": [], "dev": [], "test": []}
    for index, sentence in chosen:
        utt_id = f"{pair.name}-{index + 1:04d}"
        samples = join_segments([audio[key] for key in plans[index]])
        wav = audio_dir / f"{utt_id}.wav"
        duration = write_wav(wav, samples)
        spans = tuple(Span(s, e, pair.embedded_language) for s, e in sentence.marks) if pair.marks_are_spans else ()
        result[splits[index]].append(
            Utterance(
                id=utt_id,
                audio=str(wav.relative_to(manifest_dir)) if wav.is_relative_to(manifest_dir) else str(wav.resolve()),
                duration=round(duration, 3),
                text=sentence.text,
                language=pair.matrix_language,
                split=splits[index],
                hotwords=sentence.terms if pair.marks_are_hotwords else (),
                spans=spans,
                speaker="tts:" + "+".join(sorted({spec for spec, _ in plans[index]})),
                custom={"pair": pair.name, "line": index + 1},
            )
        )
    for utts in result.values():
        utts.sort(key=lambda u: u.id)
    return result


def load_sentences(text_dir: Path, pair: PairSpec) -> list[MarkedSentence]:
    return read_marked(text_dir / f"{pair.name}.txt")
