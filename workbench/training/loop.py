"""The training loop every trainer of the workbench runs on: Whisper LoRA (``training.trainer``),
the retrievers (``retrieval.training``) and speech-LLM SFT (``speechllm.training``). GRPO is trl's.

A training is a :class:`TrainingTask`: the micro-batches of an epoch (a pure function of the seed
and the epoch), the loss parts of a micro-batch, how to weight them (per epoch: CIF pre-training
weights differ), a few metrics of its own, and any state it must carry through a checkpoint. The
loop owns the rest, once for all three:

- **AdamW + linear warm-up/decay**, gradient clipping, gradient accumulation (``gradient_accumulation``
  consecutive micro-batches of the run, across epoch ends, make one optimizer step; each
  contributes ``loss / gradient_accumulation``).
- **Resume unit: the optimizer step.** A checkpoint (``training.checkpoint``: one format) is
  written atomically every ``checkpoint_every`` steps, after every epoch's end, at the last step
  and when stopped. A resumed run recomputes the epoch's batches and restores weights, optimizer,
  scheduler and the torch/Python RNG states, so steps k+1.. replay exactly what an uninterrupted
  run does (bit for bit with one torch thread).
- **Devices and processes: accelerate.** Under ``accelerate launch`` every process draws the same
  global batch and takes its share (``batch[rank::world]``; a spare rank of a short last batch
  repeats one item with weight 0); gradients are averaged across processes before each step, so
  every rank applies the same update. Only the main process reports metrics and progress and
  writes checkpoints. (Contrastive losses see only their share's in-batch negatives.)
- **Callbacks, no output of its own:** ``progress(done, total)`` first (``done`` = the step a
  resumed run starts from), then ``on_resume(step)`` when resuming, then per optimizer step
  ``on_step(metrics, step)`` and ``progress``, and ``on_epoch_end(epoch, step)`` (model in eval
  mode) before the checkpoint of a step that ends an epoch, so a resumed run never skips it.
"""

from __future__ import annotations

import abc
import math
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from accelerate import Accelerator

from workbench.training.checkpoint import CHECKPOINT, load_checkpoint, save_checkpoint
from workbench.training.losses import LossParts


def linear_schedule(optimizer, warmup: int, total: int):
    """Linear warm-up over ``warmup`` steps, then linear decay to 0 at step ``total``."""
    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / (warmup + 1)
        return max(0.0, (total - step) / max(1, total - warmup))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


@dataclass(frozen=True)
class LoopSettings:
    """What the loop takes from a training's config."""

    learning_rate: float
    weight_decay: float
    warmup_steps: int
    max_grad_norm: float
    epochs: int
    seed: int
    checkpoint_every: int | None = None  # optimizer steps between checkpoints; None: at epoch ends only
    gradient_accumulation: int = 1
    schedule_steps: int | None = None  # the learning-rate schedule's length; None: the run's optimizer steps


def _ignore(*args) -> None:
    return None


@dataclass(frozen=True)
class Callbacks:
    on_step: Callable[[dict, int], None] = _ignore  # (metrics, step), main process
    on_epoch_end: Callable[[int, int], None] = _ignore  # (epoch, step), every process
    on_resume: Callable[[int], None] = _ignore  # (step), every process
    progress: Callable[[int, int], None] = _ignore  # (done, total), main process


@dataclass(frozen=True)
class TrainingResult:
    steps: int  # optimizer steps done, the resume unit
    total: int  # optimizer steps of the whole run
    epochs: int  # whole epochs done
    resumed_from: int  # the step a resumed run started from (0: from the start)


class TrainingTask(abc.ABC):
    """One training as the loop sees it. ``batches_per_epoch`` micro-batches an epoch, each a
    sequence of records (utterances, examples, ...) the loop can split across processes."""

    batches_per_epoch: int

    @abc.abstractmethod
    def epoch_batches(self, epoch: int) -> Sequence[Sequence[Any]]:
        """The micro-batches of ``epoch``: a pure function of the seed and ``epoch``."""

    @abc.abstractmethod
    def loss(self, batch: Sequence[Any], epoch: int) -> LossParts:
        """The loss parts of one micro-batch (weighted by ``loss_weights``)."""

    @abc.abstractmethod
    def loss_weights(self, epoch: int, parts: LossParts) -> Mapping[str, float]:
        """The weight of each part in the loss to minimize (parts without one are only logged)."""

    def step_metrics(self, epoch: int, learning_rate: float) -> dict:
        """Metrics logged after the loss parts of each step."""
        return {}

    def state_dict(self) -> dict:
        """State the task needs back after a resume, saved in every checkpoint."""
        return {}

    def load_state_dict(self, state: dict) -> None:
        return None


def _share(batch: Sequence[Any], rank: int, world: int) -> tuple[Sequence[Any], float]:
    """This process's part of a global batch and its weight in the batch mean."""
    if world == 1:
        return batch, 1.0
    share = batch[rank::world]
    return (share or batch[:1]), len(share) / len(batch)


def _mean_metrics(logged: list[dict]) -> dict:
    if len(logged) == 1:
        return logged[0]
    keys = list(dict.fromkeys(key for metrics in logged for key in metrics))
    return {key: sum(m[key] for m in logged if key in m) / sum(key in m for m in logged) for key in keys}


def run_training(
    model: torch.nn.Module,
    task: TrainingTask,
    settings: LoopSettings,
    checkpoint_dir: Path,
    callbacks: Callbacks = Callbacks(),
    stop_after: int | None = None,
    stop_after_epochs: int | None = None,
) -> TrainingResult:
    """Train ``model``'s trainable parameters on ``task`` until ``settings.epochs`` are done, or this
    call has done ``stop_after`` steps / ended ``stop_after_epochs`` epochs (tests simulate a kill
    with it). Resumes from ``checkpoint_dir/checkpoint.pt`` when present."""
    torch.manual_seed(settings.seed)
    random.seed(settings.seed)
    accelerator = Accelerator(cpu=not torch.cuda.is_available())
    world, rank, main = accelerator.num_processes, accelerator.process_index, accelerator.is_main_process
    model = model.to(accelerator.device)  # not DDP-wrapped: gradients are averaged explicitly below
    trainable = [p for p in model.parameters() if p.requires_grad]
    if not trainable:
        raise ValueError("the model has no trainable parameters")
    if task.batches_per_epoch < 1:
        raise ValueError("the task has no batches")
    optimizer = torch.optim.AdamW(trainable, lr=settings.learning_rate, weight_decay=settings.weight_decay)
    accumulation = settings.gradient_accumulation
    micro_batches = task.batches_per_epoch * settings.epochs
    total = math.ceil(micro_batches / accumulation)
    scheduler = linear_schedule(optimizer, settings.warmup_steps, settings.schedule_steps or total)
    checkpoint = checkpoint_dir / CHECKPOINT
    start = 0
    if checkpoint.exists():
        start, task_state = load_checkpoint(checkpoint, model, optimizer, scheduler)
        task.load_state_dict(task_state)
    if main:
        checkpoint_dir.mkdir(parents=True, exist_ok=True)
        callbacks.progress(start, total)
    if start:
        callbacks.on_resume(start)

    batches: dict[int, Sequence[Sequence[Any]]] = {}  # the current epoch's

    def micro_batch(index: int) -> tuple[int, Sequence[Any]]:
        epoch, position = divmod(index, task.batches_per_epoch)
        if epoch not in batches:
            batches.clear()
            batches[epoch] = task.epoch_batches(epoch)
        return epoch, batches[epoch][position]

    model.train()
    step, epochs_ended = start, 0
    while step < total:
        logged, ended = [], []
        for index in range(step * accumulation, min((step + 1) * accumulation, micro_batches)):
            epoch, batch = micro_batch(index)
            share, weight = _share(batch, rank, world)
            parts = task.loss(share, epoch)
            loss = parts.total(task.loss_weights(epoch, parts))
            scaled = loss * weight * world if world > 1 else loss  # reduce("mean") below divides by world
            accelerator.backward(scaled / accumulation if accumulation > 1 else scaled)
            logged.append({**{f"loss_{name}": value for name, value in parts.as_floats().items()},
                           "loss": float(loss.detach())})
            if (index + 1) % task.batches_per_epoch == 0:
                ended.append(epoch)
        if world > 1:
            for parameter in trainable:
                if parameter.grad is not None:
                    parameter.grad = accelerator.reduce(parameter.grad, reduction="mean")
        torch.nn.utils.clip_grad_norm_(trainable, settings.max_grad_norm)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad()
        step += 1
        if main:
            callbacks.on_step({**_mean_metrics(logged), **task.step_metrics(epoch, scheduler.get_last_lr()[0])}, step)
            callbacks.progress(step, total)
        for ended_epoch in ended:
            model.eval()
            callbacks.on_epoch_end(ended_epoch, step)
            model.train()
        epochs_ended += len(ended)
        stopping = (stop_after is not None and step - start >= stop_after) or (
            stop_after_epochs is not None and epochs_ended >= stop_after_epochs)
        due = settings.checkpoint_every is not None and step % settings.checkpoint_every == 0
        if main and (ended or stopping or due or step == total):
            save_checkpoint(checkpoint, step, model, optimizer, scheduler, task.state_dict())
        if stopping:
            break
    model.eval()
    return TrainingResult(step, total, min(step * accumulation, micro_batches) // task.batches_per_epoch, start)
