"""Settings of the ``nearmiss`` stage (params.yaml section ``nearmiss``), checked when built."""

from __future__ import annotations

from dataclasses import dataclass

from workbench.config.models import WHISPER
from workbench.nearmiss.gate import GateConfig
from workbench.nearmiss.llm import LLMConfig
from workbench.tracking.options import TrackingConfig

SOURCES = ("nbest", "llm", "phonetic")  # candidate sources (workbench.nearmiss.pipeline.build_sources)
POI_CATEGORIES = ("embedded", "boundary")  # workbench.text.poi: embedded spans and their ±k neighbours


@dataclass(frozen=True)
class NearMissConfig:
    model: str = WHISPER  # the frozen seed ASR: teacher-forced scores for the acoustic gate
    sources: tuple[str, ...] = ("nbest", "llm", "phonetic")  # candidate sources, in priority order
    poi_neighbourhood: int = 1  # ±k word tokens around embedded spans form "boundary" POIs (seed 003 Eq. 2)
    embedded_language: str = "en"
    normalization: tuple[str, ...] = ("width", "simplified", "whisper_basic", "punctuation", "spaces")
    max_candidates: int = 24  # distinct near-misses scored per utterance (bounds the acoustic pass)
    negatives: int = 4  # M: negatives selected per utterance by the fixed policy
    phonetic_neighbours: int = 3  # sound-alike replacements per POI
    llm_categories: tuple[str, ...] = ("embedded",)  # POI categories that get an LLM request
    llm: LLMConfig = LLMConfig(temperature=0.7, top_p=0.9, seed=0, max_new_tokens=32)
    gate: GateConfig = GateConfig()
    clips_per_batch: int = 16  # clips per encoder batch and per batched LLM call
    device: str = "cpu"
    threads: int | None = None
    tracking: TrackingConfig = TrackingConfig(experiment="nearmiss")

    def __post_init__(self) -> None:
        unknown = [s for s in self.sources if s not in SOURCES]
        if unknown:
            raise ValueError(f"sources: unknown source(s) {unknown}; known: {list(SOURCES)}")
        if "llm" in self.sources and self.llm.backend == "none":
            raise ValueError("sources lists 'llm' but llm.backend is 'none'")
        categories = [c for c in self.llm_categories if c not in POI_CATEGORIES]
        if categories:
            raise ValueError(f"llm_categories: unknown POI category(ies) {categories}; known: {list(POI_CATEGORIES)}")
        for name in ("max_candidates", "clips_per_batch"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        for name in ("negatives", "phonetic_neighbours", "poi_neighbourhood"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
