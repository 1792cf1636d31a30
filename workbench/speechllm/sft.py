"""Supervised fine-tuning of the speech LLM as one call (seed 001 §3.1.1, §3.2): a fresh backbone
(Whisper with LoRA on its decoder, or an adapter and LoRA on a causal LM), trained by
``workbench.speechllm.training.train_sft`` on the training data (``workbench.speechllm.data``), with
the digests of every process's weights gathered so a data-parallel run shows that its ranks agree."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from accelerate import PartialState
from accelerate.utils import gather_object

from workbench.config import config_to_dict
from workbench.errors import InputError
from workbench.speechllm.backbone import SpeechBackbone
from workbench.speechllm.data import TrainingData
from workbench.speechllm.options import SFTSpeechLLMConfig
from workbench.speechllm.training import train_sft


def training_process() -> PartialState:
    """This process: the only one, or one of several under ``accelerate launch`` (gloo on CPU)."""
    return PartialState(cpu=not torch.cuda.is_available())


def weights_digest(model: torch.nn.Module) -> str:
    """sha256 of the trainable tensors, in name order."""
    digest = hashlib.sha256()
    for name, parameter in sorted(model.named_parameters()):
        if parameter.requires_grad:
            digest.update(name.encode())
            digest.update(parameter.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


@dataclass(frozen=True)
class SFTResult:
    model: SpeechBackbone
    meta: dict  # saved beside the weights: base LM, encoder, stage, prompt wording
    summary: dict  # train.json
    seconds: float  # training time


def build_backbone(config: SFTSpeechLLMConfig, audio_dim: int) -> SpeechBackbone:
    """A fresh backbone of ``config.backbone``, its LoRA (and adapter) initialised from ``config.loop.seed``;
    with ``config.init``, that saved model instead (e.g. an adapter pretrained for ASR), trainable."""
    if config.init:
        from workbench.errors import ConfigError
        from workbench.speechllm.backbone import load_backbone, read_speechllm_meta

        kind = read_speechllm_meta(config.init).get("backbone", "adapter_lm")
        if kind != config.backbone:
            raise ConfigError(f"sft_speechllm.init {config.init} is a {kind} model, not backbone {config.backbone}")
        model = load_backbone(config.init, config.lm, trainable_lora=True)
        for name, parameter in model.named_parameters():
            if name.startswith("adapter."):
                parameter.requires_grad_(True)  # the adapter trains in SFT, as when built fresh
        return model
    if config.backbone == "whisper":
        from workbench.speechllm.whisper_backbone import build_whisper_backbone

        return build_whisper_backbone(config.model, config.whisper, seed=config.loop.seed)
    if config.backbone == "audio_lm":
        from workbench.speechllm.audio_lm import build_audio_lm

        return build_audio_lm(config.lm, config.audio_lm, seed=config.loop.seed)
    from workbench.speechllm.model import build_adapter_lm

    return build_adapter_lm(config.lm, audio_dim, config.architecture, seed=config.loop.seed)


def fine_tune(config: SFTSpeechLLMConfig, data: TrainingData, checkpoint_dir: Path,
              log_metrics: Callable[[dict, int], None] = lambda metrics, step: None,
              progress: Callable[[int, int], None] = lambda done, total: None,
              on_resume: Callable[[int], None] = lambda step: None) -> SFTResult:
    """Build and train the speech LLM, resuming from ``checkpoint_dir`` (the caller's resume state).
    The callbacks are the training loop's: ``progress(done, total)`` in steps, ``on_resume(step)``."""
    if not data.examples:
        raise InputError("no training utterances left (every one mentions an excluded evaluation hotword?)")
    audio_dim = next(iter(data.states.values())).shape[-1]
    model = build_backbone(config, audio_dim).to(config.device)
    trainable = sum(p.numel() for p in model.trainable_parameters())
    resumed_from = [0]

    def resumed(step: int) -> None:
        resumed_from[0] = step
        on_resume(step)

    started = time.perf_counter()
    steps = train_sft(model, data.examples, data.states, data.vocabulary, config.loop, checkpoint_dir, config.prompts,
                      log_metrics=log_metrics, on_resume=resumed, progress=progress)
    seconds = time.perf_counter() - started
    # every rank must hold the same weights after data-parallel training: gather their digests
    digests = gather_object([weights_digest(model)])
    meta = {"lm": config.lm if config.backbone == "adapter_lm" else None, "whisper": config.model, "stage": "sft",
            "prompts": config_to_dict(config.prompts)}
    summary = {"utterances": len(data.examples), "counts": data.counts, "distractors": len(data.vocabulary),
               "steps": steps, "excluded_hotwords": data.excluded_hotwords, "trainable_parameters": trainable,
               "train_seconds": round(seconds, 1), "processes": training_process().num_processes,
               "rank_weight_digests": digests, "resumed_from_step": resumed_from[0]}
    return SFTResult(model, meta, summary, seconds)
