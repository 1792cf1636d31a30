"""Long-form retrieval (seed 002): long audio split into fixed windows, text queries against windows.

A long recording is built by concatenating consecutive test clips; it is cut into fixed windows
(which may cut a word, as a real segmenter would). A query (a hotword) is relevant to every
window that overlaps the clip it was spoken in. Q→C R@k: share of queries with a relevant
window in their top k; C→Q R@k: share of windows (with any relevant query) whose top k queries
include a relevant one (``metrics.retrieval.ranking_hits`` on the score matrix and its
transpose).

The per-item hits behind each R@k are kept for intervals and paired tests. Q→C is resampled by
test utterance (the clip a hotword was spoken in: the queries of one utterance share its audio,
so they are not independent), which gives it the same items as the other retrieval metrics of
a run. C→Q averages over windows, which cut across clips: its items are the windows, named
``<first clip of the recording>@<start>-<end>s`` so two runs pair only when their windows agree.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from workbench.data import Utterance, load_audio
from workbench.data.manifest import SAMPLE_RATE
from workbench.metrics.intervals import UtteranceRatios
from workbench.metrics.retrieval import ranking_hits


@dataclass(frozen=True)
class Window:
    recording: int
    start: float  # seconds in the recording
    end: float
    audio: np.ndarray
    sources: tuple[int, ...]  # indices of the clips it overlaps


def windows_of(clips: Sequence[np.ndarray], per_recording: int, window_seconds: float) -> list[Window]:
    """Concatenate ``per_recording`` consecutive clips into recordings; cut each into windows of
    ``window_seconds`` (the last one shorter)."""
    if per_recording < 1 or window_seconds <= 0:
        raise ValueError("per_recording must be >= 1 and window_seconds > 0")
    out: list[Window] = []
    for recording, first in enumerate(range(0, len(clips), per_recording)):
        group = clips[first : first + per_recording]
        bounds = np.cumsum([0] + [len(c) for c in group]) / SAMPLE_RATE
        audio = np.concatenate(group).astype(np.float32)
        total = len(audio) / SAMPLE_RATE
        start = 0.0
        while start < total - 1e-6:
            end = min(total, start + window_seconds)
            sources = tuple(first + i for i in range(len(group)) if bounds[i] < end and bounds[i + 1] > start)
            out.append(Window(recording, start, end, audio[int(start * SAMPLE_RATE) : int(end * SAMPLE_RATE)], sources))
            start = end
    return out


def relevance(windows: Sequence[Window], query_sources: Sequence[int]) -> tuple[list[list[int]], list[list[int]]]:
    """Gold windows per query (Q→C) and gold queries per window (C→Q); ``query_sources[q]`` is
    the clip query q was spoken in."""
    q_to_c = [[w for w, window in enumerate(windows) if source in window.sources] for source in query_sources]
    c_to_q = [[q for q, source in enumerate(query_sources) if source in window.sources] for window in windows]
    return q_to_c, c_to_q


def window_id(window: Window, clip_ids: Sequence[str], per_recording: int) -> str:
    """A window's stable name: its recording's first clip and its span in seconds."""
    return f"{clip_ids[window.recording * per_recording]}@{window.start:.3f}-{window.end:.3f}s"


@dataclass(frozen=True)
class LongformRecall:
    """Q→C and C→Q R@k with the hits behind them: per hotword query (and the test utterance it
    was spoken in) and per window that has a relevant query (C→Q's candidates)."""

    window_seconds: float
    windows: int
    query_utterances: np.ndarray  # index of the test utterance of each hotword query
    query_hits: dict[int, np.ndarray]  # k -> per query: a relevant window in its top k
    window_ids: tuple[str, ...]  # the windows C→Q ranks queries for
    window_hits: dict[int, np.ndarray]  # k -> per such window: a relevant query in its top k

    def metrics(self) -> dict:
        """``windows``, ``queries``, ``window_seconds``, ``q2c_r@k``, ``c2q_r@k`` (the metrics.json block)."""
        out: dict = {"windows": self.windows, "queries": len(self.query_utterances),
                     "window_seconds": self.window_seconds}
        for direction, hits_at in (("q2c", self.query_hits), ("c2q", self.window_hits)):
            out.update({f"{direction}_r@{k}": float(hits.mean()) if len(hits) else float("nan")
                        for k, hits in hits_at.items()})
        return out

    def utterance_ratios(self, utterance_ids: Sequence[str], prefix: str = "") -> UtteranceRatios:
        """Q→C R@k per test utterance (``utterance_ids``, in query order): its queries with a
        relevant window in the top k over its queries; the sums give ``q2c_r@k`` exactly."""
        count = len(utterance_ids)
        queries = np.bincount(self.query_utterances, minlength=count)
        return UtteranceRatios(tuple(utterance_ids), {
            f"{prefix}q2c_r@{k}": (np.bincount(self.query_utterances[hits], minlength=count), queries)
            for k, hits in self.query_hits.items()})

    def window_ratios(self, prefix: str = "") -> UtteranceRatios:
        """C→Q R@k per window: a hit (0/1) over 1."""
        ones = np.ones(len(self.window_ids), dtype=np.int64)
        return UtteranceRatios(self.window_ids, {f"{prefix}c2q_r@{k}": (hits.astype(np.int64), ones)
                                                 for k, hits in self.window_hits.items()})


def rank_longform(scores: np.ndarray, windows: Sequence[Window], query_utterances: Sequence[int],
                  window_ids: Sequence[str], ks: Sequence[int], window_seconds: float) -> LongformRecall:
    """Q→C and C→Q hits of a (hotword query × window) ``scores`` matrix; ``query_utterances[q]``
    is the clip query q was spoken in."""
    q_to_c, c_to_q = relevance(windows, query_utterances)
    keep = [w for w, gold in enumerate(c_to_q) if gold]
    return LongformRecall(window_seconds, len(windows), np.asarray(query_utterances, dtype=np.int64),
                          ranking_hits(scores, q_to_c, ks), tuple(window_ids[w] for w in keep),
                          ranking_hits(np.asarray(scores).T[keep], [c_to_q[w] for w in keep], ks))


@torch.no_grad()
def longform_recall(model, meta: Mapping, queries: Sequence[Utterance], root: Path, clips_per_recording: int,
                    window_seconds: float, ks: Sequence[int], progress: Callable[..., Any]) -> LongformRecall:
    """Seed 002's Q→C and C→Q R@k of a trained GLCLAP/CLSR ``model`` (``meta``: its retriever.json):
    every annotated hotword of ``queries`` (audio under ``root``) against fixed windows of
    recordings of ``clips_per_recording`` consecutive clips. ``progress(total, desc, unit)`` shows
    the encoder passes over the windows."""
    from workbench.asr import load_whisper
    from workbench.features import encoder_states

    whisper_model = load_whisper(meta["model"])
    blocks = len(whisper_model.encoder.blocks)
    below = meta["architecture"]["audio_trainable_layers"]  # the retriever runs the top blocks itself
    layers = None if below == 0 else blocks - below
    clips = [load_audio(u.audio_path(root)) for u in queries]
    windows = windows_of(clips, clips_per_recording, window_seconds)
    states = []
    with progress(len(windows), "long-form windows", unit="window") as bar:
        for window in windows:
            states.append(encoder_states(whisper_model, window.audio, layers))
            bar.update(1)
    contexts = torch.cat([model.query_embeddings(states[i : i + 16]) for i in range(0, len(states), 16)])
    words = [(h, q) for q, u in enumerate(queries) for h in u.hotwords]
    questions = model.embed_text([h for h, _ in words])
    scores = (questions @ contexts.T).numpy()
    clip_ids = [u.id for u in queries]
    ids = [window_id(w, clip_ids, clips_per_recording) for w in windows]
    return rank_longform(scores, windows, [q for _, q in words], ids, ks, window_seconds)
