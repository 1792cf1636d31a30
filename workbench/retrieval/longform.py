"""Long-form retrieval (seed 002): long audio split into fixed windows, text queries against windows.

A long recording is built by concatenating consecutive test clips; it is cut into fixed windows
(which may cut a word, as a real segmenter would). A query (a hotword) is relevant to every
window that overlaps the clip it was spoken in. Q→C R@k: share of queries with a relevant
window in their top k; C→Q R@k: share of windows (with any relevant query) whose top k queries
include a relevant one (``metrics.retrieval.ranking_recall_at_k`` on the score matrix and its
transpose).
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
from workbench.metrics.retrieval import ranking_recall_at_k


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


@torch.no_grad()
def longform_recall(model, meta: Mapping, queries: Sequence[Utterance], root: Path, clips_per_recording: int,
                    window_seconds: float, ks: Sequence[int], progress: Callable[..., Any]) -> dict:
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
    q_to_c, c_to_q = relevance(windows, [q for _, q in words])
    keep = [w for w, gold in enumerate(c_to_q) if gold]
    out: dict = {"windows": len(windows), "queries": len(words), "window_seconds": window_seconds}
    for k, value in ranking_recall_at_k(scores, q_to_c, ks).items():
        out[f"q2c_r@{k}"] = value
    for k, value in ranking_recall_at_k(scores.T[keep], [c_to_q[w] for w in keep], ks).items():
        out[f"c2q_r@{k}"] = value
    return out
