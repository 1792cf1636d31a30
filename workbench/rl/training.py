"""GRPO of the SFT speech LLM as one call (seed 001 §2.2.3, §3.2): the prompts with their biasing
lists, trl's arguments, the trainer (``workbench.rl.grpo.SpeechGRPOTrainer``) with the configured
rewards, resume from the last complete trl checkpoint, and what changed.

trl and datasets are imported when a run starts, not with this module (every CLI command imports
the stage modules)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from workbench.config import config_to_dict
from workbench.rl.options import GRPOSpeechLLMConfig
from workbench.rl.rewards import REWARDS
from workbench.speechllm.backbone import SpeechBackbone, load_backbone
from workbench.speechllm.data import TrainingData
from workbench.speechllm.prompts import PromptConfig, example_rng, training_list, with_format_of


def grpo_arguments(config: GRPOSpeechLLMConfig, checkpoints: Path):
    """trl's ``GRPOConfig``: one optimizer step = ``prompts_per_step`` prompts x ``num_generations``."""
    from trl import GRPOConfig

    return GRPOConfig(
        output_dir=str(checkpoints), per_device_train_batch_size=config.num_generations * config.prompts_per_step,
        num_generations=config.num_generations, beta=config.beta, learning_rate=config.learning_rate,
        max_steps=config.max_steps, max_completion_length=config.max_completion_length, temperature=config.temperature,
        reward_weights=list(config.reward_weights), save_steps=config.save_steps, logging_steps=1, seed=config.seed,
        report_to="none", use_cpu=config.device == "cpu", bf16=False, save_only_model=False, disable_tqdm=True,
    )


@dataclass(frozen=True)
class GRPOPolicy:
    """The SFT model with trainable LoRA, and the prompts GRPO samples completions for."""

    model: SpeechBackbone
    prompts: PromptConfig  # GRPO's list mix in the wording the SFT model was trained on
    data: TrainingData
    rows: list[dict]  # dataset rows: prompt, utterance_id, reference, biasing_words


def grpo_policy(sft: Path, sft_meta: dict, data: TrainingData, config: GRPOSpeechLLMConfig) -> GRPOPolicy:
    """Load the SFT model and draw each utterance's biasing list (seeded by (seed, 0, id))."""
    from workbench.rl.grpo import grpo_rows

    model = load_backbone(sft, config.lm, trainable_lora=True)
    prompts = with_format_of(config.prompts, sft_meta.get("prompts"))
    lists = [training_list(e.hotwords, data.vocabulary, example_rng(config.seed, 0, e.id), prompts, e.text).words
             for e in data.examples]
    rendered = [model.render_prompt(words, prompts, e.language) for words, e in zip(lists, data.examples)]
    return GRPOPolicy(model, prompts, data, grpo_rows(data.examples, lists, rendered))


@dataclass(frozen=True)
class GRPOResult:
    meta: dict  # saved beside the weights: base LM, encoder, stage, prompt wording
    summary: dict  # train.json
    main_process: bool  # trl's process zero: the one that finishes the resume state


def _tracking_callback(log_metrics: Callable[[dict, int], None], progress: Callable[[int, int], None]):
    from transformers import TrainerCallback

    class ToTracking(TrainerCallback):
        """trl's logs (rewards/..., kl, loss) as metrics named without '/', and the step count."""

        def on_log(self, args, state, control, logs=None, **kwargs):
            numbers = {k.replace("/", "_"): float(v) for k, v in (logs or {}).items() if isinstance(v, (int, float))}
            if numbers:
                log_metrics(numbers, state.global_step)

        def on_step_end(self, args, state, control, **kwargs):
            if state.is_world_process_zero:
                progress(state.global_step, state.max_steps)

    return ToTracking()


def train_grpo(policy: GRPOPolicy, config: GRPOSpeechLLMConfig, sft_meta: dict, checkpoints: Path,
               log_metrics: Callable[[dict, int], None] = lambda metrics, step: None,
               progress: Callable[[int, int], None] = lambda done, total: None,
               on_resume: Callable[[int, str], None] = lambda step, checkpoint: None) -> GRPOResult:
    """Train ``policy.model``'s LoRA weights with trl's GRPO, resuming from the last complete
    checkpoint in ``checkpoints`` (``on_resume(step, path)``); ``progress(done, total)`` in steps."""
    from datasets import Dataset
    from transformers import PrinterCallback

    from workbench.rl.grpo import SpeechGRPOTrainer, check_checkpoint, last_complete_checkpoint

    model = policy.model
    torch.manual_seed(config.seed)
    before = {n: p.detach().clone() for n, p in model.lm.named_parameters() if p.requires_grad}
    trainer = SpeechGRPOTrainer(model, policy.data.states, reward_funcs=[REWARDS[r] for r in config.rewards],
                                args=grpo_arguments(config, checkpoints), train_dataset=Dataset.from_list(policy.rows),
                                callbacks=[_tracking_callback(log_metrics, progress)])
    trainer.remove_callback(PrinterCallback)  # the logs go to tracking, the progress to the caller
    resume = last_complete_checkpoint(checkpoints)
    resumed_from = 0
    if resume:
        check_checkpoint(resume)
        resumed_from = int(Path(resume).name.rpartition("-")[2])
        on_resume(resumed_from, resume)
    progress(resumed_from, config.max_steps)
    started = time.perf_counter()
    trainer.train(resume_from_checkpoint=resume)
    seconds = time.perf_counter() - started
    moved = sum(not torch.equal(before[n], p.detach()) for n, p in model.lm.named_parameters() if n in before)
    history: list[dict[str, Any]] = [h for h in trainer.state.log_history if "loss" in h]
    meta = {"lm": sft_meta.get("lm") and config.lm, "whisper": sft_meta["whisper"], "stage": "grpo",
            "prompts": config_to_dict(policy.prompts)}
    summary = {"prompts": len(policy.rows), "steps": trainer.state.global_step, "resumed_from_step": resumed_from,
               "lora_tensors_changed": moved, "train_seconds": round(seconds, 1),
               "first": history[0] if history else None, "last": history[-1] if history else None}
    return GRPOResult(meta, summary, trainer.is_world_process_zero())
