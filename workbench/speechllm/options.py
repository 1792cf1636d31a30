"""Settings of the speech-LLM stages (params.yaml sections ``sft_speechllm`` and
``eval_contextual``; GRPO's are ``workbench.rl.options``), validated on construction, and the
training-data arguments SFT and GRPO share."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

from workbench.config.models import LM, WHISPER
from workbench.metrics.options import DEFAULT_NORMALIZATION, IntervalConfig
from workbench.speechllm.audio_lm import AudioLMConfig
from workbench.speechllm.decoding import DecodeOptions
from workbench.speechllm.model import SpeechLLMConfig
from workbench.speechllm.prompts import PromptConfig, retrieved_count
from workbench.speechllm.training import SFTLoopConfig
from workbench.speechllm.whisper_backbone import WhisperBackboneConfig
from workbench.tracking.options import TrackingConfig

BACKBONES = ("whisper", "adapter_lm", "audio_lm")


def add_training_data_arguments(parser: argparse.ArgumentParser) -> None:
    """The training data of the speech-LLM stages (sft_speechllm, grpo_speechllm)."""
    parser.add_argument("--manifest", type=Path, nargs="+", required=True,
                        help="training manifests (jsonl); max_train_utterances limits the first one")
    parser.add_argument("--vocabulary", type=Path, nargs="+", required=True,
                        help="hotword lists the distractors come from")
    parser.add_argument("--exclude", type=Path, nargs="*", default=[],
                        help="manifests whose hotwords must not occur in training (the evaluation sets)")
    parser.add_argument("--frames", type=Path, nargs="*", default=[],
                        help="feature stores holding every training manifest: the one of the backbone's layout is "
                        "used (encode --layout padded for whisper, own for adapter_lm; audio_lm reads none: it "
                        "computes log-mel features from the manifests' audio)")


def check_utterance_limit(limit: int | None) -> None:
    if limit is not None and limit < 1:
        raise ValueError(f"max_train_utterances must be >= 1 or null (all), got {limit}")


@dataclass(frozen=True)
class SFTSpeechLLMConfig:
    # whisper (its decoder transcribes already) | adapter_lm (needs ASR pretraining) | audio_lm (Qwen2-Audio, GPU)
    backbone: str = "whisper"
    lm: str = LM  # adapter_lm: any HF causal LM directory; audio_lm: a Qwen2-Audio checkpoint directory
    model: str = WHISPER  # the Whisper checkpoint: the whisper backbone, and the encoder of the stored states
    whisper: WhisperBackboneConfig = WhisperBackboneConfig()
    architecture: SpeechLLMConfig = SpeechLLMConfig()  # adapter_lm
    init: str | None = None  # a saved speech LLM to continue from (e.g. the adapter after ASR pretraining)
    audio_lm: AudioLMConfig = AudioLMConfig()  # audio_lm
    prompts: PromptConfig = PromptConfig()  # seed 001 §3.1.1: 8:1 without a list, positive/negative lists 1:1
    loop: SFTLoopConfig = SFTLoopConfig()
    max_train_utterances: int | None = None  # None: all (the profile's knob)
    device: str = "cpu"
    threads: int | None = None
    tracking: TrackingConfig = TrackingConfig(experiment="speechllm")

    def __post_init__(self) -> None:
        if self.backbone not in BACKBONES:
            raise ValueError(f"backbone must be one of {BACKBONES}, got {self.backbone!r}")
        check_utterance_limit(self.max_train_utterances)


@dataclass(frozen=True)
class EvalContextualConfig:
    lm: str = LM  # the base LM of adapter_lm models
    # seed 000 Table 3's "Vanilla": this Whisper checkpoint as it is (no LoRA), under every condition;
    # None: no vanilla model
    vanilla: str | None = WHISPER
    # seed 000 Table 3 / seed 001 Table 3: no list, the oracle list, a retriever's top-k
    conditions: tuple[str, ...] = ("NA", "GT", "top1", "top2", "top5", "top10")
    ranking_method: str = "phonetic"  # rankings.jsonl method: phonetic | learned | fused
    joint_conditions: tuple[str, ...] = ("top2",)  # also decoded with joint beam search (costly on CPU)
    decoding: DecodeOptions = DecodeOptions()
    joint_decoding: DecodeOptions = DecodeOptions(joint=True, beam_size=2, joint_n_best=2)
    normalization: tuple[str, ...] = DEFAULT_NORMALIZATION
    intervals: IntervalConfig = IntervalConfig()  # bootstrap over utterances: <metric>_ci_lo/_ci_hi, ratios.json
    device: str = "cpu"
    threads: int | None = None
    tracking: TrackingConfig = TrackingConfig(experiment="speechllm")

    def __post_init__(self) -> None:
        for name in ("conditions", "joint_conditions"):
            conditions = getattr(self, name)
            for condition in conditions:
                try:
                    retrieved_count(condition)
                except ValueError as error:
                    raise ValueError(f"{name}: {error}") from None
            if len(set(conditions)) != len(conditions):
                raise ValueError(f"{name}: a condition is listed twice in {list(conditions)}")
        if not self.conditions and not self.joint_conditions:
            raise ValueError("conditions and joint_conditions are both empty: nothing to evaluate")

    @property
    def runs(self) -> list[tuple[str, str, DecodeOptions]]:
        """(condition, decoding name, options) of every decoding pass of one model, in table order."""
        return [(c, "greedy", self.decoding) for c in self.conditions] + \
            [(c, "joint", self.joint_decoding) for c in self.joint_conditions]

    @property
    def needs_rankings(self) -> bool:
        return any(retrieved_count(c) is not None for c in (*self.conditions, *self.joint_conditions))
