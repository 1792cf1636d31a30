"""How text is normalized and which tokens are POIs when a stage scores hypotheses."""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_NORMALIZATION = ("width", "simplified", "whisper_basic", "punctuation", "spaces")


@dataclass(frozen=True)
class ScoreConfig:
    normalization: tuple[str, ...] = DEFAULT_NORMALIZATION
    poi_neighbourhood: int = 0  # ±k tokens around embedded-language spans also count as POIs (PIER)
    embedded_language: str = "en"  # language of the POI spans found by token-level language ID

    def __post_init__(self):
        if self.poi_neighbourhood < 0:
            raise ValueError(f"score.poi_neighbourhood must be >= 0, got {self.poi_neighbourhood}")
