"""Retriever training on the training loop (``workbench.training.loop``): seeded epochs of shuffled
examples, loss parts weighted by the experiment, CIF pre-training epochs first (seed 000's
two-stage schedule: the quantity loss alone), a checkpoint after every epoch.

An epoch's batches, including each example's local text (a hotword, a fuzzy variant or a cropped
phrase), are drawn from one (seed, epoch) RNG, so a resumed run redraws exactly the batches the
interrupted one would have. Hard negatives (an experiment's ``hard_negatives: k``) are each
hotword's k nearest sound-alike words, fixed before training (``fit.hard_negative_neighbours``),
so they draw nothing from the RNG. The stage keeps the checkpoint in its resume directory
(``workbench.data.resume``), not in its output.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from workbench.errors import InputError
from workbench.retrieval.data import RetrievalExample, crop_phrase, find_span
from workbench.retrieval.frames import pad_states
from workbench.retrieval.fuzzy import FuzzyConfig, sample_training_text
from workbench.retrieval.models import RetrievalBatch, Retriever
from workbench.text.hotwords import hotword_key
from workbench.training.checkpoint import CHECKPOINT
from workbench.training.loop import Callbacks, LoopSettings, TrainingTask, run_training
from workbench.training.losses import LossParts

__all__ = ["CHECKPOINT", "RetrieverLoopConfig", "batch_negatives", "make_batch", "train_retriever"]


@dataclass(frozen=True)
class RetrieverLoopConfig:
    learning_rate: float = 1e-3
    weight_decay: float = 0.01
    warmup_steps: int = 10
    epochs: int = 8  # joint epochs (after the experiment's CIF pre-training epochs)
    batch_size: int = 32  # in-batch negatives: bigger batches make InfoNCE harder
    max_grad_norm: float = 1.0
    seed: int = 0

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 2:
            raise ValueError("epochs >= 1 and batch_size >= 2 (InfoNCE needs in-batch negatives)")
        if self.learning_rate <= 0:
            raise ValueError(f"learning_rate must be > 0, got {self.learning_rate}")


def local_target(example: RetrievalExample, rng: random.Random,
                 fuzzy: FuzzyConfig | None) -> tuple[str, tuple[int, int] | None]:
    """The local text of one example this epoch and the transcript span it stands for."""
    if example.hotwords:
        index = rng.randrange(len(example.hotwords))
        word, span = example.hotwords[index], example.hotword_spans[index]
        if fuzzy is not None:
            variant = sample_training_text(word, rng, fuzzy).text
            return variant, (find_span(example.text, variant) or span)
        return word, span
    return crop_phrase(example.text, rng)


def batch_negatives(local_texts: Sequence[str], neighbours: Mapping[str, Sequence[str]] | None) -> list[str]:
    """The hard negatives of a batch: the sound-alike ``neighbours`` of each local text (by
    ``hotword_key``; a fuzzy variant or a cropped phrase has none), in batch order, once each,
    leaving out any that is a local text of the batch (it is that row's positive)."""
    if not neighbours:
        return []
    taken = {hotword_key(t) for t in local_texts}
    negatives = []
    for text in local_texts:
        for neighbour in neighbours.get(hotword_key(text), ()):
            key = hotword_key(neighbour)
            if key not in taken:
                taken.add(key)
                negatives.append(neighbour)
    return negatives


def _batch(examples: Sequence[RetrievalExample], targets: Sequence[tuple[str, tuple[int, int] | None]],
           states: Mapping[str, torch.Tensor], neighbours: Mapping[str, Sequence[str]] | None = None) -> RetrievalBatch:
    padded, mask = pad_states([states[e.id] for e in examples])
    local = [t for t, _ in targets]
    return RetrievalBatch(padded, mask, [e.text for e in examples], local, [s for _, s in targets],
                          batch_negatives(local, neighbours))


def make_batch(examples: Sequence[RetrievalExample], states: Mapping[str, torch.Tensor], rng: random.Random,
               fuzzy: FuzzyConfig | None, neighbours: Mapping[str, Sequence[str]] | None = None) -> RetrievalBatch:
    return _batch(examples, [local_target(e, rng, fuzzy) for e in examples], states, neighbours)


class _RetrieverTask(TrainingTask):
    """Micro-batches of (example, local target) pairs; a lone leftover example of an epoch is
    dropped (it has no in-batch negative)."""

    def __init__(self, model: Retriever, examples: Sequence[RetrievalExample], states: Mapping[str, torch.Tensor],
                 loss_weights: Mapping[str, float], config: RetrieverLoopConfig, cif_pretrain_epochs: int,
                 fuzzy: FuzzyConfig | None, neighbours: Mapping[str, Sequence[str]] | None = None):
        self.model, self.examples, self.states, self.weights = model, examples, states, loss_weights
        self.config, self.cif_pretrain_epochs, self.fuzzy = config, cif_pretrain_epochs, fuzzy
        self.neighbours = neighbours
        self.batches_per_epoch = len(examples) // config.batch_size + (len(examples) % config.batch_size >= 2)

    def epoch_batches(self, epoch: int) -> list[list[tuple[RetrievalExample, tuple[str, tuple[int, int] | None]]]]:
        rng = random.Random(self.config.seed * 100_003 + epoch)
        order = list(range(len(self.examples)))
        rng.shuffle(order)
        batches = []
        for first in range(0, len(order), self.config.batch_size):
            chunk = [self.examples[i] for i in order[first : first + self.config.batch_size]]
            if len(chunk) >= 2:  # the targets are drawn in batch order, after the shuffle
                batches.append([(e, local_target(e, rng, self.fuzzy)) for e in chunk])
        return batches

    def loss(self, batch, epoch: int) -> LossParts:
        return self.model(_batch([e for e, _ in batch], [t for _, t in batch], self.states, self.neighbours))

    def loss_weights(self, epoch: int, parts: LossParts) -> Mapping[str, float]:
        # CIF pre-training: the quantity loss alone; a part a batch has nothing for (CLAR's local
        # loss without a hotword span in the batch) is left out
        weights = {"quantity": 1.0} if epoch < self.cif_pretrain_epochs else self.weights
        return {name: w for name, w in weights.items() if name in parts and w > 0}

    def step_metrics(self, epoch: int, learning_rate: float) -> dict:
        return {"epoch": epoch, "logit_scale": float(self.model.scale.detach())}


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
    on_resume: Callable[[int], None] = lambda step: None,
    progress: Callable[[int, int], None] = lambda done, total: None,
    neighbours: Mapping[str, Sequence[str]] | None = None,
) -> int:
    """Train ``cif_pretrain_epochs + config.epochs`` epochs (or ``stop_after_epochs`` in this call:
    tests simulate a kill); returns the epochs done. Resumes from ``checkpoint_dir/checkpoint.pt``
    when present (``on_resume`` gets its optimizer step); the callbacks are the loop's
    (``workbench.training.loop``). ``neighbours``: hotword key -> sound-alike texts, the hard
    negatives of the local loss (``batch_negatives``); None or empty: in-batch negatives only."""
    if len(examples) < 2:
        raise InputError(f"{len(examples)} training example(s): contrastive training needs at least 2")
    epochs = cif_pretrain_epochs + config.epochs
    # the schedule's length counts an epoch's lone leftover batch too, although it is never trained:
    # kept so that results equal those of the retriever's earlier trainer
    schedule = math.ceil(len(examples) / config.batch_size) * epochs
    settings = LoopSettings(config.learning_rate, config.weight_decay, config.warmup_steps, config.max_grad_norm,
                            epochs, config.seed, schedule_steps=schedule)
    task = _RetrieverTask(model, examples, states, loss_weights, config, cif_pretrain_epochs, fuzzy, neighbours)
    callbacks = Callbacks(log_metrics, on_resume=on_resume, progress=progress)
    return run_training(model, task, settings, checkpoint_dir, callbacks, stop_after_epochs=stop_after_epochs).epochs
