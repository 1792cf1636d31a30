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


def fill_store(directory: Path, layout, manifests: Sequence[Path], checkpoint: str, device: str = "cpu",
               batch_size: int = 8) -> tuple[FeatureStore, int, Iterator[int]]:
    """The store at ``directory`` bound to ``checkpoint``'s encoder (another checkpoint or layout than
    it holds is refused before any work), how many of the manifests' utterances it lacks, and the
    ``encode_missing`` iterator that stores them."""
    from workbench.asr.whisper_model import load_whisper

    store = FeatureStore(directory, layout)
    model = load_whisper(checkpoint, device)
    store.bind(model)
    todo = missing_utterances(store, manifests)
    return store, sum(len(utterances) for _, utterances in todo), encode_missing(store, model, todo, batch_size)
