"""Whisper LoRA fine-tuning on the training loop (``workbench.training.loop``).

Batches depend only on (seed, epoch) (``training.data.epoch_batches``); the objective returns the
experiment's loss parts for a batch's encoder features, weighted by the experiment's ``losses``.
LoRA dropout draws from torch's RNG, which the loop's checkpoints carry, so a run killed after
step k and resumed replays steps k+1.. exactly as the uninterrupted run would. The stage keeps the
checkpoints in its resume directory (``workbench.data.resume``), not in its output.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from workbench.training.checkpoint import CHECKPOINT
from workbench.training.data import TrainingItem, epoch_batches
from workbench.training.loop import Callbacks, LoopSettings, TrainingTask, run_training
from workbench.training.losses import LossParts
from workbench.training.objective import Objective

__all__ = ["CHECKPOINT", "LoopConfig", "train"]


@dataclass(frozen=True)
class LoopConfig:
    learning_rate: float = 1e-3  # seed 003 §5.1
    weight_decay: float = 0.0
    warmup_steps: int = 4  # linear warm-up, then linear decay to 0
    epochs: int = 2
    batch_size: int = 4  # utterances per micro-batch (each brings its negatives / N-best rows)
    gradient_accumulation: int = 1  # micro-batches per optimizer step
    max_grad_norm: float = 1.0
    checkpoint_every: int = 10  # optimizer steps between checkpoints (and one at every epoch's end)
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "gradient_accumulation", "checkpoint_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.learning_rate <= 0:
            raise ValueError(f"learning_rate must be > 0, got {self.learning_rate}")


class _LoRATask(TrainingTask):
    def __init__(self, objective: Objective, items: Sequence[TrainingItem],
                 features: Callable[[Sequence[TrainingItem]], torch.Tensor], loss_weights: Mapping[str, float],
                 config: LoopConfig):
        self.objective, self.items, self.features = objective, items, features
        self.weights, self.config = loss_weights, config
        self.batches_per_epoch = math.ceil(len(items) / config.batch_size)

    def epoch_batches(self, epoch: int) -> list[list[TrainingItem]]:
        return epoch_batches(self.items, self.config.batch_size, self.config.seed, epoch)

    def loss(self, batch: Sequence[TrainingItem], epoch: int) -> LossParts:
        return self.objective(self.features(batch), batch)

    def loss_weights(self, epoch: int, parts: LossParts) -> Mapping[str, float]:
        return self.weights

    def step_metrics(self, epoch: int, learning_rate: float) -> dict:
        return {"learning_rate": learning_rate, "epoch": epoch}


def train(
    model,
    objective: Objective,
    items: Sequence[TrainingItem],
    features: Callable[[Sequence[TrainingItem]], torch.Tensor],
    loss_weights: Mapping[str, float],
    config: LoopConfig,
    checkpoint_dir: Path,
    log_metrics: Callable[[dict, int], None] = lambda metrics, step: None,
    on_epoch_end: Callable[[int, int], None] = lambda epoch, step: None,
    stop_after: int | None = None,
    on_resume: Callable[[int], None] = lambda step: None,
    progress: Callable[[int, int], None] = lambda done, total: None,
) -> int:
    """Train the model's LoRA adapters until ``config.epochs`` are done (or this call has done
    ``stop_after`` optimizer steps: tests simulate a kill). Resumes from
    ``checkpoint_dir/checkpoint.pt`` when present; the callbacks are the loop's
    (``workbench.training.loop``). Returns the number of optimizer steps done."""
    settings = LoopSettings(config.learning_rate, config.weight_decay, config.warmup_steps, config.max_grad_norm,
                            config.epochs, config.seed, config.checkpoint_every, config.gradient_accumulation)
    result = run_training(model, _LoRATask(objective, items, features, loss_weights, config), settings, checkpoint_dir,
                          Callbacks(log_metrics, on_epoch_end, on_resume, progress), stop_after=stop_after)
    return result.steps
