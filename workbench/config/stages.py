"""One frozen config per stage; each field documents itself. Defaults are the ``default`` profile."""

from __future__ import annotations

from dataclasses import dataclass

from workbench.asr.lora import LoRAConfig
from workbench.nearmiss.gate import GateConfig
from workbench.nearmiss.llm import LLMConfig
from workbench.training.trainer import LoopConfig
from workbench.metrics.options import ScoreConfig
from workbench.tracking.options import TrackingConfig


@dataclass(frozen=True)
class EvaluateConfig:
    model: str = "models/whisper-base.pt"  # openai-whisper checkpoint path
    batch_size: int = 8  # clips per encoder/decoder batch
    beam_size: int | None = None  # None: greedy decoding
    temperature_fallback: bool = True  # whisper.transcribe's re-decoding of repetitive/unlikely outputs
    language: str | None = "manifest"  # "manifest": each utterance's language; null: detect; or a code
    score: ScoreConfig = ScoreConfig()  # normalization and POI settings of the metrics
    device: str = "cpu"
    threads: int | None = None  # torch CPU threads (None: torch's default)
    tracking: TrackingConfig = TrackingConfig(experiment="baseline")


@dataclass(frozen=True)
class NBestConfig:
    model: str = "models/whisper-base.pt"  # openai-whisper checkpoint path
    batch_size: int = 8  # clips per batch (the beam multiplies the decoder batch)
    beam_size: int = 5
    n_best: int = 5  # hypotheses kept per clip (<= beam_size * patience)
    patience: float | None = None
    length_penalty: float | None = None
    max_tokens_per_second: float | None = 15.0  # cap on tokens per clip second (+10), against loops
    language: str | None = "manifest"  # "manifest": each utterance's language; null: detect; or a code
    device: str = "cpu"
    threads: int | None = None


@dataclass(frozen=True)
class NearMissConfig:
    model: str = "models/whisper-base.pt"  # the frozen seed ASR: teacher-forced scores for the acoustic gate
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


@dataclass(frozen=True)
class TrainASRConfig:
    profile: str = "default"  # "default" (this 2-core CPU, minutes) or "full" (seed 003's scale on GPUs); params.yaml's profiles
    model: str = "models/whisper-base.pt"  # the seed ASR LoRA adapts
    lora: LoRAConfig = LoRAConfig()
    loop: LoopConfig = LoopConfig()
    gate: GateConfig = GateConfig()  # thresholds for re-selecting negatives (the experiment picks the levels)
    max_train_utterances: int | None = None  # None: the whole training manifest
    encoder_cache: bool = True  # decoder-only LoRA: encode each utterance once, reuse every epoch
    device: str = "cpu"
    threads: int | None = None
    tracking: TrackingConfig = TrackingConfig(experiment="cs_nmg")


@dataclass(frozen=True)
class EvalASRConfig:
    model: str = "models/whisper-base.pt"  # base checkpoint the adapter was trained on
    batch_size: int = 8  # clips per greedy decoding batch
    score: ScoreConfig = ScoreConfig()
    device: str = "cpu"
    threads: int | None = None
    tracking: TrackingConfig = TrackingConfig(experiment="cs_nmg")
