"""What a speech-LLM backbone is to SFT, GRPO, decoding and evaluation (issue 21).

A backbone turns frozen encoder states into something its model attends to, renders the biasing
prompt that precedes a transcript, spells transcripts as completion ids, runs teacher-forced
forward passes and generation, and saves/loads its trainable weights. Three are built in:

- ``whisper`` (``workbench.speechllm.whisper_backbone``): Whisper's own pretrained decoder, the
  biasing list in its previous-text slot, LoRA on the decoder. It transcribes before any training.
- ``adapter_lm`` (``workbench.speechllm.model``): encoder states -> frame adapter -> a causal LM with
  LoRA (seed 001 §3.2). It needs ASR pretraining at scale before it transcribes.
- ``audio_lm`` (``workbench.speechllm.audio_lm``): a Qwen2-Audio checkpoint (its own audio tower on
  log-mel features, LoRA on its language model), for GPU users.

Every backbone exposes ``lm``, the Hugging Face model (LoRA-wrapped by peft) that trl's GRPO
trainer drives, and ``tokenizer``, an HF tokenizer whose ids are the model's.
"""

from __future__ import annotations

import json
from abc import ABCMeta, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import nn

from workbench.errors import InputError
from workbench.speechllm.prompts import PromptConfig

CONFIG_FILE = "speechllm.json"
LORA_DIR = "lora"


def padded_batch(pad_id: int, pairs: Sequence[tuple[list[int], list[int]]]):
    """Right-padded ``[prompt][completion]`` ids, their mask, and next-token targets (-100 on the
    prompt and the padding) for (prompt ids, completion ids) pairs."""
    rows = [prompt + completion for prompt, completion in pairs]
    width = max(len(r) for r in rows)
    input_ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    target = torch.full((len(rows), width), -100, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, (prompt, completion) in enumerate(pairs):
        row = prompt + completion
        input_ids[i, : len(row)] = torch.tensor(row)
        target[i, len(prompt) - 1 : len(row) - 1] = torch.tensor(completion)
        mask[i, : len(row)] = 1
    return input_ids, mask, target


def left_padded(pad_id: int, rows: Sequence[Sequence[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    """Prompt ids left-padded into a batch, and their mask."""
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        if row:
            ids[i, width - len(row):] = torch.tensor(list(row))
            mask[i, width - len(row):] = 1
    return ids, mask


def cut_after_end(rows: torch.Tensor, end_ids: set[int]) -> list[list[int]]:
    """Each generated row up to and including its first end token (the whole row without one)."""
    out = []
    for row in rows.cpu().tolist():
        cut = next((i for i, t in enumerate(row) if t in end_ids), len(row) - 1)
        out.append(row[: cut + 1])
    return out


def with_defaults(generation: dict, **defaults) -> dict:
    """``generate`` keyword arguments with ``defaults`` filled in, inside a copy of the
    ``generation_config`` when one is given (trl's), since transformers wants one or the other."""
    import copy

    config = generation.get("generation_config")
    if config is None:
        return {**defaults, **generation}
    config = copy.deepcopy(config)
    for key, value in defaults.items():
        if key not in generation and getattr(config, key, None) is None:
            setattr(config, key, value)
    return {**generation, "generation_config": config}


class SpeechBackbone(nn.Module, metaclass=ABCMeta):
    """The interface (see the module docstring); each backbone implements the abstract methods."""

    kind: ClassVar[str]
    layout: ClassVar[str]  # the feature-store layout of the encoder states it reads (workbench.features)
    lm: nn.Module
    tokenizer: Any

    @property
    def device(self) -> torch.device:
        return next(self.lm.parameters()).device

    @property
    def end_ids(self) -> set[int]:
        return {int(self.tokenizer.eos_token_id)}

    @abstractmethod
    def render_prompt(self, words: Sequence[str], prompts: PromptConfig, language: str | None) -> str:
        """The text before the transcript, special tokens spelled out (trl tokenizes it again)."""

    def prompt_ids(self, words: Sequence[str], prompts: PromptConfig, language: str | None) -> list[int]:
        return self.tokenizer(self.render_prompt(words, prompts, language), add_special_tokens=False)["input_ids"]

    @abstractmethod
    def completion_ids(self, text: str) -> list[int]:
        """A transcript as the model writes it, end token included."""

    @abstractmethod
    def audio(self, states: Sequence[torch.Tensor]) -> Any:
        """A batch of clips' encoder states in the form ``model_inputs`` takes."""

    @abstractmethod
    def model_inputs(self, audio, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                     lm=None) -> tuple[dict[str, torch.Tensor], int]:
        """Keyword arguments of ``self.lm`` (or of the ``lm`` given: trl's unwrapped model) for [audio][text ids], and
        the number of positions before the first text position in its outputs."""

    @abstractmethod
    def generate_ids(self, audio, input_ids: torch.Tensor, attention_mask: torch.Tensor, lm=None,
                     **generation) -> list[list[int]]:
        """New tokens after each (left-padded) prompt, cut after the first end token; ``generation``
        are ``generate``'s keyword arguments (``num_return_sequences`` rows per prompt, in order)."""

    @abstractmethod
    def save(self, directory: Path, extra: dict | None = None) -> None:
        """The trainable weights and a ``CONFIG_FILE`` naming the backbone (plus ``extra``), atomically."""

    def token_logprobs(self, audio, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                       targets: torch.Tensor) -> torch.Tensor:
        """Log-probabilities [B, L] of ``targets`` (the next token at each text position; -100 = ignore)."""
        inputs, offset = self.model_inputs(audio, input_ids, attention_mask)
        logits = self.lm(**inputs).logits[:, offset:].float()
        logp = torch.log_softmax(logits, dim=-1)
        safe = targets.clamp(min=0)
        return logp.gather(-1, safe.unsqueeze(-1)).squeeze(-1).masked_fill(targets < 0, 0.0)

    def teacher_forced(self, pairs: Sequence[tuple[list[int], str]]):
        """``padded_batch`` of (prompt ids, transcript) pairs."""
        return padded_batch(self.tokenizer.pad_token_id, [(p, self.completion_ids(t)) for p, t in pairs])

    def trainable_parameters(self) -> list[nn.Parameter]:
        return [p for p in self.parameters() if p.requires_grad]


def read_speechllm_meta(directory: Path | str) -> dict:
    """What ``save`` recorded beside a speech LLM's weights (backbone, shapes, base model, prompt wording)."""
    meta_path = Path(directory) / CONFIG_FILE
    if not meta_path.is_file():
        raise InputError(f"{directory} is not a saved speech LLM ({CONFIG_FILE} missing); run sft_speechllm first")
    try:
        return json.loads(meta_path.read_text(encoding="utf-8"))
    except ValueError as error:
        raise InputError(f"{meta_path}: not a speech LLM description ({error})") from None


def load_backbone(directory: Path | str, lm_path: Path | str | None = None,
                  trainable_lora: bool = False) -> SpeechBackbone:
    """A saved speech LLM of any backbone (``save`` output); ``lm_path`` is the base LM of an
    adapter_lm model (default: the one it was trained on)."""
    meta = read_speechllm_meta(directory)
    kind = meta.get("backbone", "adapter_lm")  # models saved before issue 21 are adapter_lm ones
    if kind == "whisper":
        from workbench.speechllm.whisper_backbone import load_whisper_backbone

        return load_whisper_backbone(directory, meta, trainable_lora)
    if kind == "audio_lm":  # the checkpoint directory it was trained on (its meta's "audio_lm")
        from workbench.speechllm.audio_lm import load_audio_lm

        return load_audio_lm(directory, meta, trainable_lora)
    if kind == "adapter_lm":
        from workbench.speechllm.model import load_adapter_lm

        return load_adapter_lm(directory, lm_path or meta["lm"], trainable_lora)
    raise InputError(f"{Path(directory) / CONFIG_FILE}: unknown backbone {kind!r}")
