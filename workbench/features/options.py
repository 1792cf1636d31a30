"""Settings of the ``encode`` stage (params.yaml section ``encode``)."""

from __future__ import annotations

from dataclasses import dataclass

from workbench.config.models import WHISPER


@dataclass(frozen=True)
class EncodeConfig:
    model: str = WHISPER  # the Whisper checkpoint whose encoder the features are of
    batch_size: int = 8  # clips read and encoded per call, one shard each (the 30-s encoder runs 2 at a time)
    device: str = "cpu"
    threads: int | None = None

    def __post_init__(self):
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")
