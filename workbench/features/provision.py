"""Fill a feature store from manifests: what the ``encode`` stage runs."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import whisper

from workbench.asr.transcribe import log_mel_batch
from workbench.data import Utterance, load_audio, read_manifest
from workbench.features.encoder import clip_mel
from workbench.features.store import PADDED, FeatureStore


def missing_utterances(store: FeatureStore, manifests: Sequence[Path]) -> list[tuple[Path, list[Utterance]]]:
    """Per manifest, its utterances the store lacks (an id already met in an earlier manifest counts once)."""
    seen: set[str] = set()
    todo = []
    for manifest in manifests:
        utterances = [u for u in read_manifest(manifest) if u.id not in store and u.id not in seen]
        seen.update(u.id for u in utterances)
        todo.append((manifest, utterances))
    return todo


def encode_missing(store: FeatureStore, model: whisper.Whisper, todo: list[tuple[Path, list[Utterance]]],
                   batch_size: int) -> Iterator[int]:
    """Encode ``todo`` into the store, ``batch_size`` clips of one manifest per call (and shard);
    yields the number of utterances each call stored, for a progress display."""
    for manifest, utterances in todo:
        for first in range(0, len(utterances), batch_size):
            batch = utterances[first : first + batch_size]

            def mels(positions: list[int], batch=batch, root=manifest.parent):
                clips = [load_audio(batch[i].audio_path(root)) for i in positions]
                if store.layout.length == PADDED:
                    return log_mel_batch(model, clips)  # [n, n_mels, 3000]
                return [clip_mel(model, clip) for clip in clips]

            store.add([u.id for u in batch], mels, model)
            yield len(batch)
