"""Stage ``grpo_speechllm``: GRPO of the SFT speech LLM with trl (seed 001 §2.2.3, §3.2).

Each prompt carries a biasing list (true hotwords + distractors, or distractors only, 1:1); trl
samples ``num_generations`` completions per prompt and rewards them with the match reward and
1 − WER (``workbench.rl.rewards``), normalizes the rewards within each group and optimizes its
clipped objective with a β-weighted KL to the LoRA-disabled model (β = 0.04). Only the LoRA
weights train. Resumable, under ``dvc repro`` too: trl checkpoints every ``save_steps`` into
``<out>.resume/<fingerprint>/checkpoints`` (``workbench.data.resume``) and a rerun of the same
configuration continues from the last complete one; the directory is deleted once the model is
saved. Output: ``--out/model`` (same format as the SFT model), train.json.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from workbench.config import config_to_dict
from workbench.config.stages import GRPOSpeechLLMConfig
from workbench.data import write_json_atomic
from workbench.speechllm.data import load_training_data
from workbench.speechllm.model import load_speechllm
from workbench.speechllm.prompts import example_rng, prompt_text, render_chat, training_list, with_format_of
from workbench.stages.common import (
    add_params_arguments,
    add_speech_training_arguments,
    configure_logging,
    set_threads,
    stage_config,
)
from workbench.tracking import make_logger, tracked_run
from workbench.data.resume import open_resume_state

NAME = "grpo_speechllm"
HELP = "GRPO (trl) of the SFT speech LLM with match and 1-WER rewards; resumable; logs rewards to MLflow"
CONFIG = (GRPOSpeechLLMConfig, "grpo_speechllm")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--sft", type=Path, required=True, help="sft_speechllm's model directory")
    add_speech_training_arguments(parser)
    parser.add_argument("--out", type=Path, required=True, help="output directory: model/, train.json "
                        "(trl checkpoints while training: <out>.resume/<fingerprint>/checkpoints/)")
    add_params_arguments(parser, "grpo_speechllm")


def grpo_arguments(config: GRPOSpeechLLMConfig, checkpoints: Path):
    from trl import GRPOConfig

    if config.num_generations < 2:
        raise ValueError("grpo_speechllm.num_generations must be >= 2: GRPO normalizes rewards within a group")
    if len(config.reward_weights) != len(config.rewards):
        raise ValueError("grpo_speechllm: one reward weight per reward")
    return GRPOConfig(
        output_dir=str(checkpoints), per_device_train_batch_size=config.num_generations * config.prompts_per_step,
        num_generations=config.num_generations, beta=config.beta, learning_rate=config.learning_rate,
        max_steps=config.max_steps, max_completion_length=config.max_completion_length, temperature=config.temperature,
        reward_weights=list(config.reward_weights), save_steps=config.save_steps, logging_steps=1, seed=config.seed,
        report_to="none", use_cpu=config.device == "cpu", bf16=False, save_only_model=False, disable_tqdm=False,
    )


def run(args: argparse.Namespace) -> None:
    from datasets import Dataset
    from transformers import TrainerCallback

    from workbench.rl.grpo import SpeechGRPOTrainer, check_checkpoint, grpo_rows, last_complete_checkpoint
    from workbench.rl.rewards import REWARDS

    log = configure_logging()
    config = stage_config(GRPOSpeechLLMConfig, args, "grpo_speechllm")
    set_threads(config.threads)
    unknown = [r for r in config.rewards if r not in REWARDS]
    if unknown:
        raise ValueError(f"grpo_speechllm.rewards: unknown {unknown}; choose from {sorted(REWARDS)}")
    meta = json.loads((args.sft / "speechllm.json").read_text(encoding="utf-8")) if (args.sft / "speechllm.json").is_file() else None
    if meta is None:
        raise FileNotFoundError(f"{args.sft} is not a saved speech LLM; run sft_speechllm first")
    data = load_training_data(args.manifest, args.vocabulary, args.exclude, args.frames, meta["whisper"],
                              config.max_train_utterances)
    examples, counts, vocabulary, states = data.examples, data.counts, data.vocabulary, data.states
    model = load_speechllm(args.sft, config.lm, trainable_lora=True)
    prompt_config = with_format_of(config.prompts, meta.get("prompts"))
    prompt_config.validate()
    lists = [training_list(e.hotwords, vocabulary, example_rng(config.seed, 0, e.id), prompt_config).words for e in examples]
    prompts = [render_chat(model.tokenizer, prompt_text(words, prompt_config), prompt_config.system) for words in lists]
    dataset = Dataset.from_list(grpo_rows(examples, lists, prompts))
    log.info("GRPO on %d prompts (%s), %d steps of %d prompts x %d generations", len(examples), counts,
             config.max_steps, config.prompts_per_step, config.num_generations)
    logger = make_logger(config.tracking.backend, config.tracking.experiment, "grpo", config.tracking.uri,
                         tags={"stage": "grpo_speechllm", "study": "speechllm"})

    class _ToTracking(TrainerCallback):
        def on_log(self, args_, state, control, logs=None, **kwargs):
            numbers = {k.replace("/", "_"): float(v) for k, v in (logs or {}).items() if isinstance(v, (int, float))}
            if numbers:
                logger.log_metrics(numbers, state.global_step)

    with tracked_run(logger, {"grpo_speechllm": config_to_dict(config), "sft": meta}):
        torch.manual_seed(config.seed)
        before = {n: p.detach().clone() for n, p in model.lm.named_parameters() if p.requires_grad}
        state = open_resume_state(args.out, NAME, {"grpo_speechllm": config_to_dict(config)},
                                  [args.sft, *args.manifest, *args.vocabulary, *args.exclude, args.frames, config.lm])
        checkpoints = state.directory / "checkpoints"
        trainer = SpeechGRPOTrainer(model, states, reward_funcs=[REWARDS[r] for r in config.rewards],
                                    args=grpo_arguments(config, checkpoints), train_dataset=dataset, callbacks=[_ToTracking()])
        resume = last_complete_checkpoint(checkpoints)
        resumed_from = 0
        if resume:
            check_checkpoint(resume)
            resumed_from = int(Path(resume).name.rpartition("-")[2])
            log.info("resuming from step %d of %d (%s)", resumed_from, config.max_steps, resume)
        started = time.perf_counter()
        trainer.train(resume_from_checkpoint=resume)
        seconds = time.perf_counter() - started
        moved = sum(not torch.equal(before[n], p.detach()) for n, p in model.lm.named_parameters() if n in before)
        model.save(args.out / "model", {"lm": config.lm, "whisper": meta["whisper"], "stage": "grpo",
                                           "prompts": config_to_dict(prompt_config)})
        history = [h for h in trainer.state.log_history if "loss" in h]
        summary = {"prompts": len(examples), "steps": trainer.state.global_step, "resumed_from_step": resumed_from,
                   "lora_tensors_changed": moved, "train_seconds": round(seconds, 1),
                   "first": history[0] if history else None, "last": history[-1] if history else None}
        write_json_atomic(args.out / "train.json", summary)
        logger.log_artifact(args.out / "train.json")
        if trainer.is_world_process_zero():
            state.finish()  # the run is done; the model is saved
        print(json.dumps(summary, default=str))
