"""Settings of GRPO on the speech LLM (params.yaml section ``grpo_speechllm``), validated on construction."""

from __future__ import annotations

from dataclasses import dataclass

from workbench.config.models import LM
from workbench.rl.rewards import REWARDS
from workbench.speechllm.options import check_utterance_limit
from workbench.speechllm.prompts import PromptConfig
from workbench.tracking.options import TrackingConfig


@dataclass(frozen=True)
class GRPOSpeechLLMConfig:
    """trl's GRPO on the SFT model; only the LoRA weights train (seed 001 §3.2)."""

    lm: str = LM
    # every GRPO prompt carries a list (the match reward needs one); positive/negative 1:1
    prompts: PromptConfig = PromptConfig(unbiased_per_biased=0.0)
    rewards: tuple[str, ...] = ("match", "wer")  # workbench.rl.rewards.REWARDS
    reward_weights: tuple[float, ...] = (1.0, 1.0)
    num_generations: int = 6  # seed 001 §3.2: six responses per prompt
    beta: float = 0.04  # seed 001 §3.2: KL weight
    learning_rate: float = 5e-5  # seed 001 uses 1e-5 on a 7B LLM; a few CPU steps on 135M need more
    prompts_per_step: int = 1  # prompts (each with num_generations completions) per optimizer step
    max_steps: int = 12  # default profile: ~20 s a step on 2 CPU cores
    max_completion_length: int = 48
    temperature: float = 1.0
    save_steps: int = 5  # trl checkpoints (resume after a kill)
    max_train_utterances: int | None = None
    seed: int = 0
    device: str = "cpu"
    threads: int | None = None
    tracking: TrackingConfig = TrackingConfig(experiment="speechllm")

    def __post_init__(self) -> None:
        unknown = [r for r in self.rewards if r not in REWARDS]
        if unknown:
            raise ValueError(f"rewards: unknown {unknown}; choose from {sorted(REWARDS)}")
        if not self.rewards:
            raise ValueError("rewards: at least one")
        if len(self.reward_weights) != len(self.rewards):
            raise ValueError(f"one reward weight per reward: {len(self.reward_weights)} weights "
                             f"for rewards {list(self.rewards)}")
        if self.num_generations < 2:
            raise ValueError("num_generations must be >= 2 (GRPO normalizes rewards within a group), "
                             f"got {self.num_generations}")
        for name in ("prompts_per_step", "max_steps", "max_completion_length", "save_steps"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.beta < 0 or self.learning_rate <= 0 or self.temperature <= 0:
            raise ValueError("beta must be >= 0, learning_rate and temperature > 0")
        check_utterance_limit(self.max_train_utterances)
