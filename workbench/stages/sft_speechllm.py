"""Stage ``sft_speechllm``: supervised fine-tuning of the speech LLM (seed 001 §3.1.1, §3.2).

Whisper base encoder states (from ``retrieval_frames``, frozen) -> 2x frame concatenation ->
two-layer adapter -> SmolLM2-135M-Instruct with LoRA. Prompts: "Transcribe the audio into text.
These biasing words you may use: ..." with lists mixing true hotwords and distractors (8:1
without/with a list, positive/negative lists 1:1, redrawn every epoch). Utterances mentioning a
hotword of the ``--exclude`` manifests (the evaluation sets) are left out and those hotwords never
serve as distractors. Resumable, under ``dvc repro`` too (checkpoint every ``loop.checkpoint_every``
steps into ``<out>.resume/<fingerprint>/``, see ``workbench.data.resume``; deleted once the
model is saved); the loss goes to MLflow. Output: ``--out/model`` (adapter + LoRA weights; the base
LM is not copied), train.json.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time

import torch
from pathlib import Path

from accelerate import PartialState
from accelerate.utils import gather_object

from workbench.config import config_to_dict
from workbench.config.stages import SFTSpeechLLMConfig
from workbench.data import write_json_atomic
from workbench.speechllm.data import load_training_data
from workbench.speechllm.model import build_speechllm
from workbench.speechllm.training import train_sft
from workbench.stages.common import (
    add_params_arguments,
    add_speech_training_arguments,
    configure_logging,
    set_threads,
    stage_config,
)
from workbench.tracking import make_logger, tracked_run
from workbench.data.resume import open_resume_state

NAME = "sft_speechllm"
HELP = "SFT of the speech LLM (Whisper states -> adapter -> causal LM + LoRA) with biasing-word prompts; resumable"
CONFIG = (SFTSpeechLLMConfig, "sft_speechllm")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_speech_training_arguments(parser)
    parser.add_argument("--out", type=Path, required=True, help="output directory: model/, train.json "
                        "(checkpoints while training: <out>.resume/<fingerprint>/)")
    add_params_arguments(parser, "sft_speechllm")


def weights_digest(model) -> str:
    """sha256 of the trainable tensors, in name order."""
    digest = hashlib.sha256()
    for name, parameter in sorted(model.named_parameters()):
        if parameter.requires_grad:
            digest.update(name.encode())
            digest.update(parameter.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


def run(args: argparse.Namespace) -> None:
    log = configure_logging()
    config = stage_config(SFTSpeechLLMConfig, args, "sft_speechllm")
    set_threads(config.threads)
    data = load_training_data(args.manifest, args.vocabulary, args.exclude, args.frames, config.model,
                              config.max_train_utterances)
    examples, counts, vocabulary, states = data.examples, data.counts, data.vocabulary, data.states
    log.info("%d training utterances (%s); %d distractor words; %d evaluation hotwords excluded",
             len(examples), counts, len(vocabulary), data.excluded_hotwords)
    audio_dim = next(iter(states.values())).shape[-1]
    # one process, or one of several under `accelerate launch` (gloo on CPU: cpu=True, as the trainer)
    process = PartialState(cpu=not torch.cuda.is_available())
    logger = make_logger(config.tracking.backend, config.tracking.experiment, "sft", config.tracking.uri,
                         tags={"stage": "sft_speechllm", "study": "speechllm"}, main_process=process.is_main_process)
    with tracked_run(logger, {"sft_speechllm": config_to_dict(config)}):
        model = build_speechllm(config.lm, audio_dim, config.architecture, seed=config.loop.seed).to(config.device)
        trainable = sum(p.numel() for p in model.trainable_parameters())
        resume = open_resume_state(args.out, NAME, {"sft_speechllm": config_to_dict(config)},
                                   [*args.manifest, *args.vocabulary, *args.exclude, args.frames, config.lm, config.model],
                                   main_process=process.is_main_process)
        resumed_from = 0

        def on_resume(step: int) -> None:
            nonlocal resumed_from
            resumed_from = step

        started = time.perf_counter()
        steps = train_sft(model, examples, states, vocabulary, config.loop, resume.directory, config.prompts,
                          log_metrics=logger.log_metrics, on_resume=on_resume)
        seconds = time.perf_counter() - started
        # every rank must hold the same weights after data-parallel training: gather their digests
        digests = gather_object([weights_digest(model)])
        if not process.is_main_process:
            return
        model.save(args.out / "model", {"lm": config.lm, "whisper": config.model, "stage": "sft",
                                           "prompts": config_to_dict(config.prompts)})
        summary = {"utterances": len(examples), "counts": counts, "distractors": len(vocabulary), "steps": steps,
                   "excluded_hotwords": data.excluded_hotwords, "trainable_parameters": trainable, "train_seconds": round(seconds, 1),
                   "processes": process.num_processes, "rank_weight_digests": digests, "resumed_from_step": resumed_from}
        write_json_atomic(args.out / "train.json", summary)
        logger.log_metrics({"train_seconds": seconds})
        logger.log_artifact(args.out / "train.json")
        resume.finish()  # done: a rerun is a new run
        print(json.dumps(summary))
