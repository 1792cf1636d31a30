"""Batched Whisper transcription of short clips (≤ 30 s): one encoder pass for a batch of clips.

openai-whisper's ``transcribe`` decodes one file at a time with a sliding window; for corpora of
short utterances, padding each clip to 30 s and decoding a batch with ``whisper.decode`` is
several times faster on CPU and gives the same greedy/beam result per clip.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
import whisper
from whisper.audio import N_SAMPLES
from whisper.decoding import DecodingTask

from workbench.asr.context_graph import ContextGraph, install_context_bias
from workbench.asr.whisper_model import encode
from workbench.errors import AudioError


@dataclass(frozen=True)
class TranscribeOptions:
    language: str | None = None  # Whisper code; None detects per clip
    task: str = "transcribe"
    beam_size: int | None = None  # None: greedy
    temperature: float = 0.0
    # whisper.transcribe's fallback: re-decode a clip at the next temperature when its output looks
    # like a repetition loop (gzip compression ratio above the threshold) or has a low avg log-prob
    fallback_temperatures: tuple[float, ...] = (0.2, 0.4, 0.6, 0.8, 1.0)
    compression_ratio_threshold: float | None = 2.4
    logprob_threshold: float | None = None  # whisper.transcribe uses -1.0; costly on hard audio
    fallback_best_of: int = 1  # samples per fallback; 1 keeps the batch batched (whisper uses 5)
    seed: int = 0  # torch seed for sampling at temperature > 0, so fallbacks are repeatable
    hotwords: tuple[str, ...] = ()  # trie biasing (ContextGraph) toward these phrases; () = off
    hotword_bonus: float = 1.5  # logit bonus per token that continues a hotword
    # cap on generated tokens: a short clip cannot need 224 tokens, only a repetition loop does
    max_tokens_per_second: float | None = 15.0
    prompt: str | None = None  # previous-text prompt (prompt biasing)
    without_timestamps: bool = True
    fp16: bool = False  # CPU needs fp32


@dataclass(frozen=True)
class Transcription:
    text: str
    language: str
    avg_logprob: float
    no_speech_prob: float
    tokens: list[int] = field(default_factory=list)


def token_budget(model: whisper.Whisper, clips: Sequence[np.ndarray], tokens_per_second: float | None) -> int | None:
    """Tokens a batch may generate: 10 + rate x its longest clip, at most whisper's n_text_ctx // 2.

    A 3-s clip never needs 224 tokens; only a repetition loop does, and the cap bounds its cost.
    """
    if not tokens_per_second:
        return None
    longest = max(len(c) for c in clips) / 16000
    return min(model.dims.n_text_ctx // 2, int(10 + tokens_per_second * longest))


def log_mel_batch(model: whisper.Whisper, clips: Sequence[np.ndarray]) -> torch.Tensor:
    device = next(model.parameters()).device
    mels = []
    for clip in clips:
        if len(clip) > N_SAMPLES:
            raise AudioError(f"clip of {len(clip) / 16000:.1f} s is longer than Whisper's 30 s window")
        audio = whisper.pad_or_trim(torch.from_numpy(np.asarray(clip, dtype=np.float32)))
        mels.append(whisper.log_mel_spectrogram(audio, n_mels=model.dims.n_mels))
    return torch.stack(mels).to(device)


def _decode(
    model: whisper.Whisper, mel: torch.Tensor, decoding: whisper.DecodingOptions, graph: ContextGraph | None = None
) -> list:
    """``whisper.decode``, one clip at a time when the decoder keeps several candidates per clip.

    openai-whisper 20250625 no longer repeats the audio features per beam/sample (upstream PR #1483),
    which only broadcasts for a batch of one: beam search or best-of-n on a batch > 1 fails with a
    size mismatch (open upstream as openai/whisper#2197). Greedy decoding batches fine.
    """
    if (decoding.beam_size or decoding.best_of or 1) > 1 and mel.shape[0] > 1:
        return [_decode(model, mel[i : i + 1], decoding, graph)[0] for i in range(mel.shape[0])]
    task = DecodingTask(model, decoding)
    if graph is not None:
        install_context_bias(task, graph)
    return task.run(mel)


def _needs_fallback(result: whisper.DecodingResult, options: TranscribeOptions) -> bool:
    threshold = options.compression_ratio_threshold
    too_repetitive = threshold is not None and result.compression_ratio > threshold
    too_unlikely = options.logprob_threshold is not None and result.avg_logprob < options.logprob_threshold
    return too_repetitive or too_unlikely


@torch.inference_mode()
def transcribe_batch(
    model: whisper.Whisper, clips: Sequence[np.ndarray], options: TranscribeOptions,
    features: torch.Tensor | None = None,
) -> list[Transcription]:
    """Decode a batch; clips whose result fails whisper's quality checks are re-decoded hotter.

    ``features``: the clips' encoder outputs when already at hand (an encoder cache); the clips
    then only set the token budget.
    """
    # encoded once: a clip re-decoded at a higher temperature does not pay the encoder again
    mel = features if features is not None else encode(model, log_mel_batch(model, clips))
    graph = None
    if options.hotwords:
        tokenizer = whisper.tokenizer.get_tokenizer(model.is_multilingual, num_languages=model.num_languages)
        graph = ContextGraph.from_phrases(list(options.hotwords), tokenizer, score=options.hotword_bonus)
    sample_len = token_budget(model, clips, options.max_tokens_per_second)
    temperatures = (options.temperature, *[t for t in options.fallback_temperatures if t > options.temperature])
    results: list[whisper.DecodingResult | None] = [None] * len(clips)
    pending = list(range(len(clips)))
    for attempt, temperature in enumerate(temperatures):
        sampling = temperature > 0
        decoding = whisper.DecodingOptions(
            task=options.task, language=options.language, temperature=temperature,
            beam_size=None if sampling else options.beam_size,
            best_of=options.fallback_best_of if sampling else None, sample_len=sample_len,
            prompt=options.prompt, without_timestamps=options.without_timestamps, fp16=options.fp16,
        )
        if sampling:
            torch.manual_seed(options.seed + attempt)
        for index, result in zip(pending, _decode(model, mel[pending], decoding, graph)):
            results[index] = result
        last = attempt == len(temperatures) - 1
        pending = [i for i in pending if not last and _needs_fallback(results[i], options)]
        if not pending:
            break
    return [
        Transcription(r.text.strip(), r.language, float(r.avg_logprob), float(r.no_speech_prob), list(r.tokens))
        for r in results
    ]
