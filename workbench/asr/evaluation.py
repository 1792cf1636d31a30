"""Transcribe a manifest with Whisper and score every hypothesis against its reference: what the
``evaluate`` and ``eval_asr`` stages and a training run's dev scores share."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
import whisper

from workbench.asr.transcribe import TranscribeOptions, Transcription, transcribe_batch
from workbench.data import Utterance, batches_by_language, load_audio
from workbench.metrics.intervals import UtteranceRatios
from workbench.metrics.scorer import CorpusScore, Reference, Scorer, UtteranceScore, aggregate


@dataclass(frozen=True)
class ScoredTranscript:
    utterance: Utterance
    transcription: Transcription
    score: UtteranceScore

    def record(self, decoder_details: bool = True) -> dict:
        """A hypotheses.jsonl line; ``decoder_details``: with language, avg log-prob and no-speech prob."""
        record = {"id": self.utterance.id, "reference": self.utterance.text, "hypothesis": self.transcription.text}
        if decoder_details:
            result = self.transcription
            record.update(language=result.language, avg_logprob=result.avg_logprob,
                          no_speech_prob=result.no_speech_prob)
        return record


@dataclass(frozen=True)
class ManifestScores:
    transcripts: list[ScoredTranscript]  # in decoding order: manifest order within each language
    corpus: CorpusScore
    seconds: float  # decoding and scoring, wall clock

    def hypotheses(self, decoder_details: bool = True) -> list[dict]:
        return [t.record(decoder_details) for t in self.transcripts]

    def errors(self) -> list[dict]:
        """Per-utterance error counts (errors.jsonl lines)."""
        return [t.score.to_json() for t in self.transcripts]

    def ratios(self) -> UtteranceRatios:
        """Every corpus rate's per-utterance numerator and denominator (ratios.json)."""
        return UtteranceRatios.from_corpus((t.utterance.id for t in self.transcripts), self.corpus)


def transcribe_and_score(
    model: whisper.Whisper,
    utterances: Sequence[Utterance],
    root: Path,
    scorer: Scorer,
    options: TranscribeOptions,
    batch_size: int = 8,
    by_language: bool = True,
    features: Callable[[list[str]], torch.Tensor] | None = None,
    progress: Callable[[int], None] = lambda done: None,
) -> ManifestScores:
    """Decode ``utterances`` (audio paths relative to ``root``) in batches, one language per batch
    when ``by_language`` (which then replaces ``options.language``), and score each hypothesis.

    ``features(ids)``: the batch's encoder outputs when a store holds them; ``progress(n)`` is
    called with the utterances of each finished batch.
    """
    transcripts = []
    started = time.perf_counter()
    for language, batch in batches_by_language(utterances, batch_size, by_language):
        batch_options = dataclasses.replace(options, language=language) if by_language else options
        clips = [load_audio(u.audio_path(root)) for u in batch]
        encoded = features([u.id for u in batch]) if features is not None else None
        for utt, result in zip(batch, transcribe_batch(model, clips, batch_options, encoded)):
            transcripts.append(ScoredTranscript(utt, result, scorer.score(Reference.from_utterance(utt), result.text)))
        progress(len(batch))
    corpus = aggregate([t.score for t in transcripts])
    return ManifestScores(transcripts, corpus, time.perf_counter() - started)
