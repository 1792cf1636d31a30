"""The resumable fine-tuning loop: accelerate for devices, checkpoints with every piece of state.

accelerate places the model and optimizer (CPU here; GPUs and nodes with ``accelerate launch``
unchanged) and handles gradient accumulation. A checkpoint holds what a bit-identical resume
needs and nothing more: the adapter weights (not the frozen base), optimizer and scheduler
state, the global step and the torch/python RNG states (LoRA dropout draws from torch's RNG);
batches depend only on (seed, epoch), so a run killed after step k and resumed replays steps
k+1.. exactly as the uninterrupted run would. Checkpoints are written atomically, after the
epoch-end callback of a step that ends an epoch, so a resumed run never skips that callback.
The stage keeps them in its resume directory (``workbench.data.resume``), not in its output.
"""

from __future__ import annotations

from workbench.errors import CheckpointError

import logging
import math
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping, Sequence

import torch
from accelerate import Accelerator
from tqdm import tqdm

from workbench.asr.lora import lora_state_dict
from workbench.data.atomic import atomic_path
from workbench.training.data import TrainingItem, iterate_steps
from workbench.training.objective import Objective

logger = logging.getLogger("workbench.training")


@dataclass(frozen=True)
class LoopConfig:
    learning_rate: float = 1e-3  # seed 003 §5.1
    weight_decay: float = 0.0
    warmup_steps: int = 4  # linear warm-up, then linear decay to 0
    epochs: int = 2
    batch_size: int = 4  # utterances per step (each brings its negatives / N-best rows)
    gradient_accumulation: int = 1
    max_grad_norm: float = 1.0
    checkpoint_every: int = 10  # optimizer steps between checkpoints (and one at the end)
    seed: int = 0

    def validate(self) -> None:
        for name in ("epochs", "batch_size", "gradient_accumulation", "checkpoint_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"train_asr.{name} must be >= 1, got {getattr(self, name)}")
        if self.learning_rate <= 0:
            raise ValueError(f"train_asr.learning_rate must be > 0, got {self.learning_rate}")


CHECKPOINT = "checkpoint.pt"


def save_checkpoint(path: Path, model, optimizer, scheduler, step: int) -> None:
    state = {
        "step": step, "adapter": lora_state_dict(model), "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(), "torch_rng": torch.get_rng_state(),
        "python_rng": list(random.getstate()[1]), "python_rng_version": random.getstate()[0],
    }
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def read_checkpoint(path: Path, keys: Sequence[str]) -> dict:
    """A resume checkpoint (``torch.load`` with ``weights_only``) holding ``keys``, or a
    ``CheckpointError`` naming the file. Checkpoints are written atomically, so an unreadable one
    was damaged after the fact: it is refused rather than silently trained over."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises RuntimeError, UnpicklingError, EOFError, ... by damage
        reason = str(error).strip().splitlines()[0][:200] if str(error).strip() else type(error).__name__
        raise CheckpointError(f"{path}: cannot read this checkpoint ({reason}); it is truncated or not a "
                              "checkpoint: delete it to train from the start") from None
    missing = [key for key in keys if not isinstance(state, dict) or key not in state]
    if missing:
        raise CheckpointError(f"{path}: not a checkpoint of this trainer (no {missing}); delete it to train from the start")
    return state


def load_checkpoint(path: Path, model, optimizer, scheduler) -> int:
    state = read_checkpoint(path, ("step", "adapter", "optimizer", "scheduler", "torch_rng", "python_rng", "python_rng_version"))
    missing, unexpected = model.load_state_dict(state["adapter"], strict=False)
    lora_missing = [k for k in missing if "lora_" in k]
    if lora_missing or unexpected:
        raise CheckpointError(f"{path}: adapter does not fit the model (missing {lora_missing[:3]}, unexpected {unexpected[:3]})")
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    torch.set_rng_state(state["torch_rng"])
    random.setstate((state["python_rng_version"], tuple(state["python_rng"]), None))
    return int(state["step"])


def linear_schedule(optimizer, warmup: int, total: int):
    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / (warmup + 1)
        return max(0.0, (total - step) / max(1, total - warmup))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


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
) -> int:
    """Train until ``config.epochs`` are done (or ``stop_after`` steps: tests simulate a kill).
    Resumes from ``checkpoint_dir/checkpoint.pt`` when present (``on_resume`` gets its step).
    Returns the number of steps done."""
    config.validate()
    torch.manual_seed(config.seed)
    random.seed(config.seed)
    accelerator = Accelerator(gradient_accumulation_steps=config.gradient_accumulation, cpu=not torch.cuda.is_available())
    trainable = [p for p in model.parameters() if p.requires_grad]
    if not trainable:
        raise ValueError("the model has no trainable parameters (apply LoRA first)")
    optimizer = torch.optim.AdamW(trainable, lr=config.learning_rate, weight_decay=config.weight_decay)
    steps_per_epoch = math.ceil(len(items) / config.batch_size)
    total = steps_per_epoch * config.epochs
    scheduler = linear_schedule(optimizer, config.warmup_steps, math.ceil(total / config.gradient_accumulation))
    model, optimizer, scheduler = accelerator.prepare(model, optimizer, scheduler)
    checkpoint = checkpoint_dir / CHECKPOINT
    start = 0
    if checkpoint.exists():
        start = load_checkpoint(checkpoint, model, optimizer, scheduler)
        logger.info("resuming from step %d of %d (%s)", start, total, checkpoint)
        on_resume(start)
    checkpoint_dir.mkdir(parents=True, exist_ok=True)
    model.train()
    done = start
    with tqdm(total=total, initial=start, desc="train", unit="step") as bar:
        for step, epoch, batch in iterate_steps(items, config.batch_size, config.seed, config.epochs, start):
            with accelerator.accumulate(model):
                parts = objective(features(batch), batch)
                loss = parts.total(loss_weights)
                accelerator.backward(loss)
                if accelerator.sync_gradients:
                    accelerator.clip_grad_norm_(trainable, config.max_grad_norm)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad()
            done = step + 1
            metrics = {f"loss_{name}": value for name, value in parts.as_floats().items()}
            metrics.update(loss=float(loss.detach()), learning_rate=scheduler.get_last_lr()[0], epoch=epoch)
            log_metrics(metrics, done)
            bar.set_postfix(loss=f"{metrics['loss']:.3f}")
            bar.update(1)
            last = done == total
            if done % steps_per_epoch == 0:  # before the checkpoint: a resume never skips an epoch's end
                model.eval()
                on_epoch_end(epoch, done)
                model.train()
            if done % config.checkpoint_every == 0 or last or done % steps_per_epoch == 0:
                save_checkpoint(checkpoint, accelerator.unwrap_model(model), optimizer, scheduler, done)
            if stop_after is not None and done >= stop_after:
                break
    model.eval()
    return done
