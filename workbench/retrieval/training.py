"""The retriever training loop: seeded epochs of shuffled examples, loss parts weighted by the
experiment, CIF pre-training epochs first (seed 000's two-stage schedule), a checkpoint after
every epoch (atomic) from which a killed run resumes to the same result.

Batches depend only on (seed, epoch), and each epoch starts from a checkpointed RNG state, so a
resumed run replays the remaining epochs exactly. The stage keeps the checkpoint in its resume
directory (``workbench.data.resume``), not in its output.
"""

from __future__ import annotations

import logging
import math
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping, Sequence

import torch
from accelerate import Accelerator
from tqdm import tqdm

from workbench.data.atomic import atomic_path
from workbench.retrieval.data import RetrievalExample, crop_phrase, find_span
from workbench.retrieval.frames import pad_states
from workbench.retrieval.fuzzy import FuzzyConfig, sample_training_text
from workbench.retrieval.models import RetrievalBatch, Retriever
from workbench.training.trainer import CheckpointError, linear_schedule, read_checkpoint

CHECKPOINT = "checkpoint.pt"
logger = logging.getLogger("workbench.training")


@dataclass(frozen=True)
class RetrieverLoopConfig:
    learning_rate: float = 1e-3
    weight_decay: float = 0.01
    warmup_steps: int = 10
    epochs: int = 8  # joint epochs (after the experiment's CIF pre-training epochs)
    batch_size: int = 32  # in-batch negatives: bigger batches make InfoNCE harder
    max_grad_norm: float = 1.0
    seed: int = 0

    def validate(self) -> None:
        if self.epochs < 1 or self.batch_size < 2:
            raise ValueError("train_retriever.loop: epochs >= 1 and batch_size >= 2 (InfoNCE needs in-batch negatives)")
        if self.learning_rate <= 0:
            raise ValueError(f"train_retriever.loop.learning_rate must be > 0, got {self.learning_rate}")


def local_target(example: RetrievalExample, rng: random.Random, fuzzy: FuzzyConfig | None) -> tuple[str, tuple[int, int] | None]:
    """The local text of one example this epoch and the transcript span it stands for."""
    if example.hotwords:
        index = rng.randrange(len(example.hotwords))
        word, span = example.hotwords[index], example.hotword_spans[index]
        if fuzzy is not None:
            variant = sample_training_text(word, rng, fuzzy).text
            return variant, (find_span(example.text, variant) or span)
        return word, span
    return crop_phrase(example.text, rng)


def make_batch(examples: Sequence[RetrievalExample], states: Mapping[str, torch.Tensor], rng: random.Random,
               fuzzy: FuzzyConfig | None) -> RetrievalBatch:
    padded, mask = pad_states([states[e.id] for e in examples])
    targets = [local_target(e, rng, fuzzy) for e in examples]
    return RetrievalBatch(padded, mask, [e.text for e in examples], [t for t, _ in targets], [s for _, s in targets])


def _trainable_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    names = {n for n, p in model.named_parameters() if p.requires_grad}
    return {k: v for k, v in model.state_dict().items() if k in names}


def save_checkpoint(path: Path, model, optimizer, scheduler, epoch: int) -> None:
    state = {"epoch": epoch, "model": _trainable_state(model), "optimizer": optimizer.state_dict(),
             "scheduler": scheduler.state_dict(), "torch_rng": torch.get_rng_state()}
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def train_retriever(
    model: Retriever,
    examples: Sequence[RetrievalExample],
    states: Mapping[str, torch.Tensor],
    loss_weights: Mapping[str, float],
    config: RetrieverLoopConfig,
    checkpoint_dir: Path,
    cif_pretrain_epochs: int = 0,
    fuzzy: FuzzyConfig | None = None,
    log_metrics: Callable[[dict, int], None] = lambda metrics, step: None,
    stop_after_epochs: int | None = None,
    on_resume: Callable[[int], None] = lambda epoch: None,
) -> int:
    """Train; returns the number of epochs done (resumes from ``checkpoint_dir/checkpoint.pt``
    when present; ``on_resume`` gets its epoch)."""
    config.validate()
    if len(examples) < 2:
        raise ValueError(f"{len(examples)} training example(s): contrastive training needs at least 2")
    torch.manual_seed(config.seed)
    accelerator = Accelerator(cpu=not torch.cuda.is_available())
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=config.learning_rate, weight_decay=config.weight_decay)
    epochs = cif_pretrain_epochs + config.epochs
    steps_per_epoch = math.ceil(len(examples) / config.batch_size)
    scheduler = linear_schedule(optimizer, config.warmup_steps, steps_per_epoch * epochs)
    model, optimizer, scheduler = accelerator.prepare(model, optimizer, scheduler)
    checkpoint_dir.mkdir(parents=True, exist_ok=True)
    checkpoint = checkpoint_dir / CHECKPOINT
    start = 0
    if checkpoint.exists():
        saved = read_checkpoint(checkpoint, ("epoch", "model", "optimizer", "scheduler", "torch_rng"))
        missing = set(_trainable_state(accelerator.unwrap_model(model))) - set(saved["model"])
        if missing:
            raise CheckpointError(f"{checkpoint} does not fit this model (missing {sorted(missing)[:3]}); delete it to restart")
        accelerator.unwrap_model(model).load_state_dict(saved["model"], strict=False)
        optimizer.load_state_dict(saved["optimizer"])
        scheduler.load_state_dict(saved["scheduler"])
        torch.set_rng_state(saved["torch_rng"])
        start = int(saved["epoch"])
        logger.info("resuming from epoch %d of %d (%s)", start, epochs, checkpoint)
        on_resume(start)
    pretrain_weights = {"quantity": 1.0}
    model.train()
    with tqdm(total=steps_per_epoch * epochs, initial=start * steps_per_epoch, desc=f"train {model.method}", unit="step") as bar:
        for epoch in range(start, epochs):
            rng = random.Random(config.seed * 100_003 + epoch)
            order = list(range(len(examples)))
            rng.shuffle(order)
            weights = pretrain_weights if epoch < cif_pretrain_epochs else loss_weights
            for first in range(0, len(order), config.batch_size):
                chunk = [examples[i] for i in order[first : first + config.batch_size]]
                if len(chunk) < 2:
                    continue  # a lone leftover has no in-batch negative
                parts = model(make_batch(chunk, states, rng, fuzzy))
                used = {name: w for name, w in weights.items() if name in parts and w > 0}
                loss = parts.total(used)
                optimizer.zero_grad()
                accelerator.backward(loss)
                accelerator.clip_grad_norm_(trainable, config.max_grad_norm)
                optimizer.step()
                scheduler.step()
                step = epoch * steps_per_epoch + first // config.batch_size + 1
                metrics = {f"loss_{k}": v for k, v in parts.as_floats().items()}
                metrics.update(loss=float(loss.detach()), epoch=epoch, logit_scale=float(accelerator.unwrap_model(model).scale.detach()))
                log_metrics(metrics, step)
                bar.set_postfix(loss=f"{metrics['loss']:.3f}", stage="cif" if epoch < cif_pretrain_epochs else "joint")
                bar.update(1)
            save_checkpoint(checkpoint, accelerator.unwrap_model(model), optimizer, scheduler, epoch + 1)
            if stop_after_epochs is not None and epoch + 1 - start >= stop_after_epochs:
                model.eval()
                return epoch + 1
    model.eval()
    return epochs
