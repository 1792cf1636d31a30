"""A toy training for tests of the training loop (workbench.training.loop): a linear model behind a
frozen layer and dropout, regression on 10 fixed points, a Python-RNG draw in every loss (so both
RNGs must survive a resume) and a task state carried through checkpoints."""

from __future__ import annotations

import math
import random

import torch
from torch import nn

from workbench.training.loop import LoopSettings, TrainingTask
from workbench.training.losses import LossParts

POINTS = 10
_generator = torch.Generator().manual_seed(1)
X = torch.randn(POINTS, 4, generator=_generator)
Y = torch.randn(POINTS, 1, generator=_generator)
SETTINGS = LoopSettings(learning_rate=0.05, weight_decay=0.01, warmup_steps=2, max_grad_norm=1.0, epochs=3, seed=4,
                        checkpoint_every=2)


class Toy(nn.Module):
    def __init__(self, dropout: float = 0.2):
        super().__init__()
        torch.manual_seed(0)
        self.frozen = nn.Linear(4, 4).requires_grad_(False)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(self.frozen(x)))


class ToyTask(TrainingTask):
    def __init__(self, model: Toy, batch_size: int = 3, weights: dict | None = None, noise: bool = True):
        self.model, self.batch_size, self.noise = model, batch_size, noise
        self.weights = weights if weights is not None else {"mse": 1.0}
        self.batches_per_epoch = math.ceil(POINTS / batch_size)
        self.seen = 0  # points trained on: state the loop checkpoints through the task's hook
        self.modes: list[bool] = []  # model.training at each loss

    def epoch_batches(self, epoch: int) -> list[list[int]]:
        order = list(range(POINTS))
        random.Random(epoch * 7919).shuffle(order)
        return [order[i : i + self.batch_size] for i in range(0, POINTS, self.batch_size)]

    def loss(self, batch, epoch: int) -> LossParts:
        self.seen += len(batch)
        self.modes.append(self.model.training)
        error = self.model(X[batch]) - (Y[batch] + (random.gauss(0.0, 0.01) if self.noise else 0.0))
        return LossParts({"mse": (error**2).mean(), "l1": error.abs().mean()})

    def loss_weights(self, epoch: int, parts: LossParts) -> dict:
        return self.weights

    def step_metrics(self, epoch: int, learning_rate: float) -> dict:
        return {"epoch": epoch, "learning_rate": learning_rate}

    def state_dict(self) -> dict:
        return {"seen": self.seen}

    def load_state_dict(self, state: dict) -> None:
        self.seen = state["seen"]


def trained(model: nn.Module) -> dict[str, torch.Tensor]:
    return {name: p.detach().clone() for name, p in model.named_parameters() if p.requires_grad}
