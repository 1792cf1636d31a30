"""TRANSITION (issue 18): the padded encoder cache is ``workbench.features.FeatureStore`` now.

These names delegate to it until the consumer stages import ``workbench.features``; then this
module is deleted.
"""

from __future__ import annotations

from pathlib import Path

import torch

from workbench.features.store import FeatureStore, Layout, encoder_fingerprint  # noqa: F401


class EncoderCache(FeatureStore):
    """``FeatureStore(directory, Layout(), dtype)`` with the old torch-dtype argument."""

    def __init__(self, directory: Path | str | None = None, dtype: torch.dtype = torch.float32):
        super().__init__(directory, Layout(), str(dtype).removeprefix("torch."))


def open_cache(directory: Path) -> FeatureStore:
    return FeatureStore.open(directory)


def cached_features(cache: FeatureStore, model, ids: list[str]) -> torch.Tensor:
    return cache.stacked(ids, model)
