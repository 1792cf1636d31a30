"""§5.2 candidates: A, the N-best of the primary decode; B, a second, more conservative decode.

B runs only for a triggered commit, on the commit's cached audio (§6.2), at most
``max_concurrency`` at a time (appendix: 1). A request it cannot serve degrades instead of
waiting or failing (§9 超载降级), with the outcome recorded: ``overloaded`` (the worker is busy),
``audio_expired`` (older than the cache's TTL) or ``audio_missing`` (never cached, or pushed out);
the commit is then rescored with the candidates it has, or keeps its primary.

Busy time is kept on the cache's clock: a job occupies [start, start + its measured duration].
With a real clock this is ordinary bookkeeping; on the replay's simulated stream clock it tells
whether a second pass would still be running when the next trigger arrives.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from workbench.rescoring.audio_cache import AudioRingBuffer, Clock
from workbench.rescoring.options import SecondPassOptions

SOURCES = ("nbest", "second_pass")  # candidate sources besides the primary: S2-A and S2-B


class HypothesisLike(Protocol):  # workbench.asr.nbest.Hypothesis fits
    text: str
    avg_logprob: float


@dataclass(frozen=True)
class Candidate:
    text: str
    source: str  # "primary", "nbest" (S2-A) or "second_pass" (S2-B)
    rank: int  # position in its source's list, 0 = its best
    # the decoder's own score, for the trace (scores of different decodes do not compare)
    avg_logprob: float | None = None

    def to_json(self) -> dict:
        return {"text": self.text, "source": self.source, "rank": self.rank, "avg_logprob": self.avg_logprob}


def nbest_candidates(hyps: Sequence[HypothesisLike], source: str, limit: int | None = None) -> list[Candidate]:
    return [Candidate(h.text.strip(), source, rank, h.avg_logprob) for rank, h in enumerate(hyps[:limit])]


def merge_candidates(*groups: Sequence[Candidate]) -> list[Candidate]:
    """One list, the first spelling of each text kept (so the primary stays first and whole)."""
    seen, out = set(), []
    for group in groups:
        for candidate in group:
            key = " ".join(candidate.text.split())
            if key and key not in seen:
                seen.add(key)
                out.append(candidate)
    return out


# (16 kHz samples, prompt, language) -> N-best hypotheses
SecondPassDecoder = Callable[[np.ndarray, str | None, str | None], Sequence[HypothesisLike]]


@dataclass(frozen=True)
class SecondPassResult:
    outcome: str  # "decoded", "overloaded", "audio_expired" or "audio_missing"
    candidates: tuple[Candidate, ...]
    latency_ms: float  # wall time of the decode (0 when it did not run)

    def to_json(self) -> dict:
        return {"outcome": self.outcome, "candidates": len(self.candidates), "latency_ms": round(self.latency_ms, 1)}


class SecondPass:
    """S2-B: decode a commit's cached audio again with the conservative configuration."""

    def __init__(self, decoder: SecondPassDecoder, cache: AudioRingBuffer,
                 options: SecondPassOptions = SecondPassOptions(),
                 clock: Clock | None = None, timer: Callable[[], float] = time.perf_counter):
        self.decoder = decoder
        self.cache = cache
        self.options = options
        self.clock = clock or cache.clock  # busy time is on the cache's clock
        self.timer = timer  # measures the decode itself
        self._jobs: dict[int, float] = {}  # job -> end time on self.clock (inf while it runs)
        self._next_job = 0
        self._lock = threading.Lock()

    def request(self, storage_key: str, prompt: str | None = None, language: str | None = None) -> SecondPassResult:
        with self._lock:
            now = self.clock()
            self._jobs = {job: end for job, end in self._jobs.items() if end > now}
            if len(self._jobs) >= self.options.max_concurrency:
                return SecondPassResult("overloaded", (), 0.0)
            fetched = self.cache.fetch(storage_key)
            if fetched.status != "ok":
                return SecondPassResult(f"audio_{fetched.status}", (), 0.0)
            job, self._next_job = self._next_job, self._next_job + 1
            self._jobs[job] = math.inf
        started = self.timer()
        try:
            hyps = self.decoder(fetched.samples, prompt, language)
        finally:
            elapsed = self.timer() - started
            with self._lock:
                self._jobs[job] = now + elapsed
        return SecondPassResult("decoded", tuple(nbest_candidates(hyps, "second_pass", self.options.n_best)),
                                elapsed * 1000.0)


def whisper_second_pass(model, options: SecondPassOptions = SecondPassOptions(),
                        max_tokens_per_second: float | None = 15.0) -> SecondPassDecoder:
    """The S2-B decoder on an openai-whisper model: batched N-best beam search of one clip,
    wider beam and more patience than the primary, with the prompt it is given."""
    from workbench.asr.nbest import NBestOptions, decode_nbest
    from workbench.asr.transcribe import log_mel_batch, token_budget

    fp16 = next(model.parameters()).device.type != "cpu"

    def decode(samples: np.ndarray, prompt: str | None, language: str | None):
        nbest = NBestOptions(
            beam_size=options.beam_size, n_best=options.n_best, patience=options.patience,
            max_tokens=token_budget(model, [samples], max_tokens_per_second), language=language,
            prompt=prompt, fp16=fp16,
        )
        return decode_nbest(model, log_mel_batch(model, [samples]), nbest)[0].hyps

    return decode
