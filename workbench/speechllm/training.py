"""Supervised fine-tuning of the speech LLM: adapter + LoRA on (audio, biasing prompt) -> transcript.

Each epoch draws every utterance's biasing list afresh (``prompts.training_list``: 8:1 without a
list, positive/negative lists 1:1), seeded by (seed, epoch, id), and shuffles the utterances with
a (seed, epoch) RNG, so batches depend only on the step: a run killed mid-epoch resumes from its
last checkpoint (written atomically every ``checkpoint_every`` steps, into the stage's resume
directory: ``workbench.data.resume``) and replays the rest exactly.
The loss is returned as parts (``ce``) and weighted here, like every trainer of the workbench.

Data parallel under ``accelerate launch`` (GPUs or ``--cpu`` processes with gloo): every process
draws the same global batch and takes its share (``batch[rank::world]``); gradients are averaged
across processes explicitly (``accelerator.reduce``) before each step, so every rank applies the
same update and holds the same weights; only the main process logs and writes checkpoints.
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
from workbench.speechllm.model import SpeechLLM, teacher_forced_batch
from workbench.speechllm.prompts import PromptConfig, example_rng, prompt_text, render_chat, training_list
from workbench.training.trainer import CheckpointError, linear_schedule, read_checkpoint

CHECKPOINT = "checkpoint.pt"
logger = logging.getLogger("workbench.training")


@dataclass(frozen=True)
class SFTExample:
    id: str
    text: str
    hotwords: tuple[str, ...] = ()


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

    def validate(self) -> None:
        for name in ("epochs", "batch_size", "checkpoint_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"sft_speechllm.loop.{name} must be >= 1, got {getattr(self, name)}")
        if self.learning_rate <= 0:
            raise ValueError(f"sft_speechllm.loop.learning_rate must be > 0, got {self.learning_rate}")


def sft_batch(model: SpeechLLM, examples: Sequence[SFTExample], lists: Sequence[Sequence[str]], prompts: PromptConfig):
    """Right-padded [prompt][transcript + end of turn] ids, their mask, and next-token targets
    (-100 on the prompt and the padding)."""
    tokenizer = model.tokenizer
    prompt_ids = [tokenizer(render_chat(tokenizer, prompt_text(words, prompts), prompts.system), add_special_tokens=False)["input_ids"]
                  for words in lists]
    return teacher_forced_batch(tokenizer, [(ids, e.text) for ids, e in zip(prompt_ids, examples)])


def sft_loss_parts(model: SpeechLLM, states: Sequence[torch.Tensor], input_ids, mask, target) -> dict[str, torch.Tensor]:
    """Token-mean cross-entropy of the transcripts."""
    logp = model.token_logprobs(model.audio_embeddings(states), input_ids.to(model.device), mask.to(model.device),
                                target.to(model.device))
    count = (target >= 0).sum().clamp(min=1).to(logp.device)
    return {"ce": -logp.sum() / count}


def _trainable_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    names = {n for n, p in model.named_parameters() if p.requires_grad}
    return {k: v.detach().clone() for k, v in model.state_dict().items() if k in names}


def train_sft(
    model: SpeechLLM,
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
) -> int:
    """Train; returns the optimizer steps done. Resumes from ``checkpoint_dir/checkpoint.pt`` when
    present (``on_resume`` gets its step); the caller gives each configuration its own directory
    (``workbench.data.resume``), so a checkpoint there is this run's."""
    config.validate()
    prompts.validate()
    if not examples:
        raise ValueError("no training utterances")
    torch.manual_seed(config.seed)
    accelerator = Accelerator(cpu=not torch.cuda.is_available())
    world, rank = accelerator.num_processes, accelerator.process_index
    if config.batch_size < world:
        raise ValueError(f"sft_speechllm.loop.batch_size {config.batch_size} < {world} processes: every process needs a share")
    core: SpeechLLM = model.to(accelerator.device)  # not DDP-wrapped: gradients are averaged explicitly below
    trainable = core.trainable_parameters()
    optimizer = torch.optim.AdamW(trainable, lr=config.learning_rate, weight_decay=config.weight_decay)
    steps_per_epoch = math.ceil(len(examples) / config.batch_size)
    total = steps_per_epoch * config.epochs
    scheduler = linear_schedule(optimizer, config.warmup_steps, total)
    if accelerator.is_main_process:
        checkpoint_dir.mkdir(parents=True, exist_ok=True)
    checkpoint = checkpoint_dir / CHECKPOINT
    done = 0
    saved = read_checkpoint(checkpoint, ("step", "model", "optimizer", "scheduler", "torch_rng")) if checkpoint.exists() else None
    if saved is not None:
        expected = set(_trainable_state(core))
        if set(saved["model"]) != expected:
            raise CheckpointError(f"{checkpoint} does not fit this model; delete it to restart")
        core.load_state_dict(saved["model"], strict=False)
        optimizer.load_state_dict(saved["optimizer"])
        scheduler.load_state_dict(saved["scheduler"])
        torch.set_rng_state(saved["torch_rng"])
        done = int(saved["step"])
        if accelerator.is_main_process:
            logger.info("resuming from step %d of %d (%s)", done, total, checkpoint)
        on_resume(done)

    def save(step: int) -> None:
        if not accelerator.is_main_process:
            return
        state = {"step": step, "model": _trainable_state(core), "optimizer": optimizer.state_dict(),
                 "scheduler": scheduler.state_dict(), "torch_rng": torch.get_rng_state()}
        with atomic_path(checkpoint) as tmp:
            torch.save(state, tmp)

    core.train()
    step = 0
    with tqdm(total=total, initial=done, desc="sft speechllm", unit="step", disable=not accelerator.is_main_process) as bar:
        for epoch in range(config.epochs):
            order = list(range(len(examples)))
            random.Random(config.seed * 100_003 + epoch).shuffle(order)
            for first in range(0, len(order), config.batch_size):
                step += 1
                if step <= done:
                    continue
                chunk = [examples[i] for i in order[first : first + config.batch_size]]
                share = chunk[rank::world] or chunk[:1]  # a short last batch: spare ranks repeat one example
                weight = len(chunk[rank::world]) / len(chunk)  # this rank's share of the global mean
                lists = [training_list(e.hotwords, vocabulary, example_rng(config.seed, epoch, e.id), prompts).words for e in share]
                batch = sft_batch(core, share, lists, prompts)
                parts = sft_loss_parts(core, [states[e.id] for e in share], *batch)
                loss = sum(loss_weights.get(k, 0.0) * v for k, v in parts.items())
                optimizer.zero_grad()
                accelerator.backward(loss * weight * world)  # reduce("mean") below divides by world
                if world > 1:
                    for parameter in trainable:
                        if parameter.grad is not None:
                            parameter.grad = accelerator.reduce(parameter.grad, reduction="mean")
                torch.nn.utils.clip_grad_norm_(trainable, config.max_grad_norm)
                optimizer.step()
                scheduler.step()
                metrics = {f"loss_{k}": float(v.detach()) for k, v in parts.items()}
                metrics.update(loss=float(loss.detach()), epoch=epoch, lr=scheduler.get_last_lr()[0])
                if accelerator.is_main_process:
                    log_metrics(metrics, step)
                bar.set_postfix(loss=f"{metrics['loss']:.3f}")
                bar.update(1)
                if step % config.checkpoint_every == 0 or step == total:
                    save(step)
                if stop_after_steps is not None and step - done >= stop_after_steps:
                    save(step)
                    core.eval()
                    return step
    core.eval()
    return total
