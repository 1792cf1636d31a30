"""Supervised fine-tuning of the speech LLM: adapter + LoRA on (audio, biasing prompt) -> transcript.

Each epoch draws every utterance's biasing list afresh (``prompts.training_list``: 8:1 without a
list, positive/negative lists 1:1), seeded by (seed, epoch, id), and shuffles the utterances with
a (seed, epoch) RNG, so batches depend only on the step: a run killed mid-epoch resumes from its
last checkpoint (written atomically every ``checkpoint_every`` steps, into the stage's resume
directory: ``workbench.data.resume``) and replays the rest exactly.
The loss is returned as parts (``ce``) and weighted by the loop, like every trainer of the workbench.

Runs on the training loop (``workbench.training.loop``), data parallel under ``accelerate launch``
(GPUs or ``--cpu`` processes with gloo): every process draws the same global batch and takes its
share, gradients are averaged across processes before each step, so every rank applies the same
update and holds the same weights; only the main process reports and writes checkpoints.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from accelerate import PartialState

from workbench.errors import ConfigError, InputError
from workbench.speechllm.backbone import SpeechBackbone
from workbench.speechllm.prompts import PromptConfig, example_rng, training_list
from workbench.training.checkpoint import CHECKPOINT
from workbench.training.loop import Callbacks, LoopSettings, TrainingTask, run_training
from workbench.training.losses import LossParts

__all__ = ["CHECKPOINT", "SFTExample", "SFTLoopConfig", "sft_batch", "sft_loss_parts", "train_sft"]


@dataclass(frozen=True)
class SFTExample:
    id: str
    text: str
    hotwords: tuple[str, ...] = ()
    language: str | None = None  # the manifest's (Whisper's language token)


@dataclass(frozen=True)
class SFTLoopConfig:
    learning_rate: float = 5e-4  # adapter and LoRA start from scratch; seed 001's 1e-5 is for a trained 7B model
    weight_decay: float = 0.0
    warmup_steps: int = 20
    epochs: int = 1  # default profile: ~8 s a step of 8 clips on 2 CPU cores
    batch_size: int = 8
    max_grad_norm: float = 1.0
    checkpoint_every: int = 20
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "checkpoint_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.learning_rate <= 0:
            raise ValueError(f"learning_rate must be > 0, got {self.learning_rate}")


def sft_batch(model: SpeechBackbone, examples: Sequence[SFTExample], lists: Sequence[Sequence[str]],
              prompts: PromptConfig):
    """Right-padded [prompt][transcript + end token] ids, their mask, and next-token targets
    (-100 on the prompt and the padding)."""
    return model.teacher_forced([(model.prompt_ids(words, prompts, e.language), e.text)
                                 for e, words in zip(examples, lists)])


def sft_loss_parts(model: SpeechBackbone, states: Sequence[torch.Tensor], input_ids, mask, target) -> LossParts:
    """Token-mean cross-entropy of the transcripts."""
    logp = model.token_logprobs(model.audio(states), input_ids.to(model.device), mask.to(model.device),
                                target.to(model.device))
    count = (target >= 0).sum().clamp(min=1).to(logp.device)
    return LossParts({"ce": -logp.sum() / count})


class _SFTTask(TrainingTask):
    """Micro-batches of (example, biasing list) pairs, the lists drawn per (seed, epoch, id)."""

    def __init__(self, model: SpeechBackbone, examples: Sequence[SFTExample], states: Mapping[str, torch.Tensor],
                 vocabulary: Sequence[str], config: SFTLoopConfig, prompts: PromptConfig,
                 loss_weights: Mapping[str, float]):
        self.model, self.examples, self.states, self.vocabulary = model, examples, states, vocabulary
        self.config, self.prompts, self.weights = config, prompts, loss_weights
        self.batches_per_epoch = math.ceil(len(examples) / config.batch_size)

    def epoch_batches(self, epoch: int) -> list[list[tuple[SFTExample, list[str]]]]:
        order = list(range(len(self.examples)))
        random.Random(self.config.seed * 100_003 + epoch).shuffle(order)
        size, seed = self.config.batch_size, self.config.seed
        return [[(e, training_list(e.hotwords, self.vocabulary, example_rng(seed, epoch, e.id), self.prompts,
                                   e.text).words)
                 for e in (self.examples[i] for i in order[first : first + size])]
                for first in range(0, len(order), size)]

    def loss(self, batch, epoch: int) -> LossParts:
        examples = [e for e, _ in batch]
        inputs = sft_batch(self.model, examples, [words for _, words in batch], self.prompts)
        return sft_loss_parts(self.model, [self.states[e.id] for e in examples], *inputs)

    def loss_weights(self, epoch: int, parts: LossParts) -> Mapping[str, float]:
        return self.weights

    def step_metrics(self, epoch: int, learning_rate: float) -> dict:
        return {"epoch": epoch, "lr": learning_rate}


def train_sft(
    model: SpeechBackbone,
    examples: Sequence[SFTExample],
    states: Mapping[str, torch.Tensor],
    vocabulary: Sequence[str],
    config: SFTLoopConfig,
    checkpoint_dir: Path,
    prompts: PromptConfig = PromptConfig(),
    loss_weights: Mapping[str, float] = {"ce": 1.0},
    log_metrics: Callable[[dict, int], None] = lambda metrics, step: None,
    stop_after_steps: int | None = None,
    on_resume: Callable[[int], None] = lambda step: None,
    progress: Callable[[int, int], None] = lambda done, total: None,
) -> int:
    """Train; returns the optimizer steps done. Resumes from ``checkpoint_dir/checkpoint.pt`` when
    present (``on_resume`` gets its step); the caller gives each configuration its own directory
    (``workbench.data.resume``), so a checkpoint there is this run's. The callbacks are the loop's
    (``workbench.training.loop``)."""
    prompts.validate()
    if not examples:
        raise InputError("no training utterances")
    world = PartialState(cpu=not torch.cuda.is_available()).num_processes
    if config.batch_size < world:
        raise ConfigError(f"sft_speechllm.loop.batch_size {config.batch_size} < {world} processes: "
                          "every process needs a share")
    settings = LoopSettings(config.learning_rate, config.weight_decay, config.warmup_steps, config.max_grad_norm,
                            config.epochs, config.seed, config.checkpoint_every)
    task = _SFTTask(model, examples, states, vocabulary, config, prompts, loss_weights)
    callbacks = Callbacks(log_metrics, on_resume=on_resume, progress=progress)
    return run_training(model, task, settings, checkpoint_dir, callbacks, stop_after=stop_after_steps).steps
