"""Settings of the ``train_asr`` stage (params.yaml section ``train_asr``): what every cs_nmg
experiment shares; the experiment YAML adds only its losses and negatives."""

from __future__ import annotations

from dataclasses import dataclass

from workbench.asr.lora import LoRAConfig
from workbench.config.models import WHISPER
from workbench.nearmiss.gate import GateConfig
from workbench.tracking.options import TrackingConfig
from workbench.training.trainer import LoopConfig


@dataclass(frozen=True)
class TrainASRConfig:
    # "default" (this 2-core CPU, minutes) or "full" (seed 003's scale on GPUs): params.yaml's profiles
    profile: str = "default"
    model: str = WHISPER  # the seed ASR LoRA adapts
    lora: LoRAConfig = LoRAConfig()
    loop: LoopConfig = LoopConfig()
    gate: GateConfig = GateConfig()  # thresholds for re-selecting negatives (the experiment picks the levels)
    max_train_utterances: int | None = None  # None: the whole training manifest
    encoder_cache: bool = True  # decoder-only LoRA: encode each utterance once, reuse every epoch
    device: str = "cpu"
    threads: int | None = None
    tracking: TrackingConfig = TrackingConfig(experiment="cs_nmg")

    def __post_init__(self) -> None:
        if self.encoder_cache and self.lora.scope != "decoder":
            raise ValueError("encoder_cache needs lora.scope: decoder (a trained encoder changes its outputs)")
        if self.max_train_utterances is not None and self.max_train_utterances < 1:
            raise ValueError(f"max_train_utterances must be at least 1 (or null: all), got {self.max_train_utterances}")
