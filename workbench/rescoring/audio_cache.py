"""§6.2: the audio of recent commits, kept for the second pass (S2-B) in a ring buffer with a TTL.

The node writes each commit's audio span under its commit id; the rescoring worker only reads.
A span older than ``ttl_sec`` is gone (the second pass reports ``audio_expired``, it does not
fail), and the buffer never holds more than ``max_seconds`` of audio: the oldest spans go first
(``audio_missing``). Time comes from an injectable clock, so tests and the replay stage can run
the buffer on simulated stream time.
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from workbench.rescoring.options import AudioCacheOptions

Clock = Callable[[], float]  # seconds, monotonic


class ManualClock:
    """A clock that moves only when told: simulated stream time for the replay and tests."""

    def __init__(self, start: float = 0.0):
        self.now = float(start)

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> float:
        if seconds < 0:
            raise ValueError(f"a clock does not go back ({seconds} s)")
        self.now += seconds
        return self.now

    def set(self, now: float) -> float:
        if now < self.now:
            raise ValueError(f"a clock does not go back (from {self.now} to {now})")
        self.now = float(now)
        return self.now


@dataclass(frozen=True)
class AudioRef:
    """§6.2's AudioRef: which audio a commit was decoded from, and where it is kept."""

    session_id: str
    commit_id: str
    start_ms: int  # span in the session's stream
    end_ms: int
    storage_key: str  # key in the ring buffer (here: the commit id)

    def to_json(self) -> dict:
        return {"session_id": self.session_id, "commit_id": self.commit_id, "start_ms": self.start_ms,
                "end_ms": self.end_ms, "storage_key": self.storage_key}


@dataclass(frozen=True)
class AudioFetch:
    status: str  # "ok", "expired" (older than the TTL) or "missing" (never stored, or pushed out by capacity)
    samples: np.ndarray | None  # 16 kHz mono float32 when ok
    age_sec: float | None  # time since it was stored, when known


@dataclass
class _Entry:
    ref: AudioRef
    samples: np.ndarray
    stored_at: float


class AudioRingBuffer:
    def __init__(self, options: AudioCacheOptions = AudioCacheOptions(), clock: Clock = time.monotonic,
                 sample_rate: int = 16_000):
        self.options = options
        self.clock = clock
        self.sample_rate = sample_rate
        self._entries: collections.OrderedDict[str, _Entry] = collections.OrderedDict()  # oldest first
        self._expired: collections.OrderedDict[str, float] = collections.OrderedDict()  # key -> stored_at, bounded
        self._samples = 0
        self._lock = threading.Lock()  # the node writes while the rescoring worker reads

    @property
    def seconds(self) -> float:
        return self._samples / self.sample_rate

    def __len__(self) -> int:
        return len(self._entries)

    def put(self, ref: AudioRef, samples: np.ndarray) -> None:
        samples = np.asarray(samples, dtype=np.float32)
        capacity = int(self.options.max_seconds * self.sample_rate)
        if len(samples) > capacity:
            raise ValueError(f"{ref.commit_id}: {len(samples) / self.sample_rate:.1f} s of audio exceeds the "
                             f"ring buffer's {self.options.max_seconds} s")
        with self._lock:
            now = self.clock()
            self._purge(now)
            old = self._entries.pop(ref.storage_key, None)
            if old is not None:
                self._samples -= len(old.samples)
            while self._entries and self._samples + len(samples) > capacity:  # ring: the oldest span goes
                _, evicted = self._entries.popitem(last=False)
                self._samples -= len(evicted.samples)
            self._entries[ref.storage_key] = _Entry(ref, samples, now)
            self._samples += len(samples)
            self._expired.pop(ref.storage_key, None)

    def fetch(self, storage_key: str) -> AudioFetch:
        with self._lock:
            now = self.clock()
            self._purge(now)
            entry = self._entries.get(storage_key)
            if entry is not None:
                return AudioFetch("ok", entry.samples, now - entry.stored_at)
            if storage_key in self._expired:
                return AudioFetch("expired", None, now - self._expired[storage_key])
            return AudioFetch("missing", None, None)

    def _purge(self, now: float) -> None:
        while self._entries:
            key, entry = next(iter(self._entries.items()))
            if now - entry.stored_at <= self.options.ttl_sec:
                break
            del self._entries[key]
            self._samples -= len(entry.samples)
            # remember recent expiries, so a late request hears "expired" rather than "missing"
            self._expired[key] = entry.stored_at
            while len(self._expired) > 1024:
                self._expired.popitem(last=False)
