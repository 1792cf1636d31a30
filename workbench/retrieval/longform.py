"""Long-form retrieval (seed 002): long audio split into fixed windows, text queries against windows.

A long recording is built by concatenating consecutive test clips; it is cut into fixed windows
(which may cut a word, as a real segmenter would). A query (a hotword) is relevant to every
window that overlaps the clip it was spoken in. Q→C R@k: share of queries with a relevant
window in their top k; C→Q R@k: share of windows (with any relevant query) whose top k queries
include a relevant one (``metrics.retrieval.ranking_recall_at_k`` on the score matrix and its
transpose).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from workbench.data.manifest import SAMPLE_RATE


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
