"""The one checkpoint format of the training loop (``workbench.training.loop``).

A checkpoint holds what a bit-identical resume needs and nothing more: the optimizer step, the
trainable weights (never a frozen base model), optimizer and scheduler state, torch's and
Python's RNG states (dropout and other sampling draw from them), and the state a training keeps
through the loop's hook (``TrainingTask.state_dict``; empty for batches that depend only on
(seed, epoch)). It is written atomically, so a file that cannot be read was damaged after the
fact and is refused with a ``CheckpointError`` naming it, never silently trained over.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path

import torch

from workbench.data.atomic import atomic_path
from workbench.errors import CheckpointError

CHECKPOINT = "checkpoint.pt"
KEYS = ("step", "weights", "optimizer", "scheduler", "torch_rng", "python_rng", "task")


def trainable_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The trainable (``requires_grad``) tensors of ``model`` by name, as snapshots."""
    names = {name for name, parameter in model.named_parameters() if parameter.requires_grad}
    return {name: value.detach().clone() for name, value in model.state_dict().items() if name in names}


def read_checkpoint(path: Path, keys: Sequence[str]) -> dict:
    """A resume checkpoint (``torch.load`` with ``weights_only``) holding ``keys``, or a
    ``CheckpointError`` naming the file."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises RuntimeError, UnpicklingError, EOFError, ... by damage
        reason = str(error).strip().splitlines()[0][:200] if str(error).strip() else type(error).__name__
        raise CheckpointError(f"{path}: cannot read this checkpoint ({reason}); it is truncated or not a "
                              "checkpoint: delete it to train from the start") from None
    missing = [key for key in keys if not isinstance(state, dict) or key not in state]
    if missing:
        raise CheckpointError(f"{path}: not a checkpoint of this trainer (no {missing}); "
                              "delete it to train from the start")
    return state


def save_checkpoint(path: Path, step: int, model: torch.nn.Module, optimizer, scheduler, task_state: dict) -> None:
    state = {
        "step": step, "weights": trainable_state(model), "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(), "torch_rng": torch.get_rng_state(),
        "python_rng": random.getstate(), "task": task_state,  # with gauss()'s cached second draw
    }
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def load_checkpoint(path: Path, model: torch.nn.Module, optimizer, scheduler) -> tuple[int, dict]:
    """Restore ``path`` into the model, optimizer, scheduler and the RNGs; returns the step and the
    task's state. A checkpoint whose weights are not exactly the model's trainable ones (another
    architecture, LoRA rank, ...) is refused."""
    state = read_checkpoint(path, KEYS)
    expected = {name for name, parameter in model.named_parameters() if parameter.requires_grad}
    if set(state["weights"]) != expected:
        missing, unexpected = sorted(expected - set(state["weights"])), sorted(set(state["weights"]) - expected)
        raise CheckpointError(f"{path}: does not fit this model (missing {missing[:3]}, unexpected {unexpected[:3]}); "
                              "delete it to train from the start")
    model.load_state_dict(state["weights"], strict=False)
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    torch.set_rng_state(state["torch_rng"])
    random.setstate(state["python_rng"])
    return int(state["step"]), state["task"]
