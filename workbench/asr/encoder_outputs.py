"""Where a stage gets the Whisper encoder outputs of its utterances: the ``encode`` stage's feature
store, an in-memory store filled on first use, or the encoder run every time."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
import whisper

from workbench.asr.transcribe import log_mel_batch
from workbench.asr.whisper_model import encode
from workbench.data import Utterance, load_audio
from workbench.features import FeatureStore


class EncoderOutputs:
    """Padded encoder outputs [n, n_audio_ctx, d] of utterances by id, for ``model``'s encoder.

    - ``store``: a directory the ``encode`` stage filled; read only (an utterance missing from it,
      or features of other encoder weights, are errors: the encode stage owns it);
    - no directory, ``keep=True``: computed on first use and kept in memory (a training run's
      first epoch pays the encoder, the later ones reuse it);
    - ``keep=False``: the encoder runs on every call (the slow path benchmarks compare against).
    """

    def __init__(self, model: whisper.Whisper, utterances: Sequence[Utterance], root: Path,
                 store: Path | None = None, keep: bool = True):
        self.model, self.root = model, root
        self.by_id = {u.id: u for u in utterances}
        self.store = (FeatureStore.open(store) if store is not None else FeatureStore()) if keep else None

    def _mel(self, ids: list[str]) -> torch.Tensor:
        return log_mel_batch(self.model, [load_audio(self.by_id[i].audio_path(self.root)) for i in ids])

    def of_ids(self, ids: list[str]) -> torch.Tensor:
        if self.store is None:
            with torch.no_grad():
                return encode(self.model, self._mel(ids))
        if self.store.directory is not None:
            return self.store.stacked(ids, self.model)
        return self.store.get_or_compute(ids, lambda positions: self._mel([ids[p] for p in positions]), self.model)

    def __call__(self, items) -> torch.Tensor:
        """Outputs of training items (anything with an ``id``), in their order."""
        return self.of_ids([item.id for item in items])
