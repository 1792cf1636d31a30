"""The ``adapter_lm`` backbone: Whisper encoder states -> 2x frame concatenation -> two-layer adapter
-> a causal LM (any HF causal LM by path).

It does not transcribe until the adapter has been trained on ASR data at scale (hundreds of hours
and more; seed 001's model saw millions): on this CPU's hundred utterances it stays untrained for
ASR, and the Whisper backbone (``workbench.speechllm.whisper_backbone``) is the default.

Seed 001 §3.2: the encoder output is downsampled 2x by concatenating neighbouring frames and
passed through a two-layer linear adapter into the LLM; the LLM is adapted with LoRA. The encoder
states come from the ``encode --layout own`` store (Whisper base run at each clip's own length, so
the states are already trimmed to the audio's real length) and stay frozen.

Layout of one sequence: ``[audio embeddings][prompt tokens][completion tokens]``. Batches are
built on embeddings: audio rows padded to the batch's longest clip, then the (left-padded) prompt
ids and (right-padded) completions exactly as the caller gives them; the attention mask hides
every pad and ``position_ids`` count only real positions, so a padded row computes what the
unpadded sequence would. Keeping the text ids untouched is what lets trl's GRPO trainer use its
own prompt/completion tensors (``workbench.rl.grpo``).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import safetensors.torch
import torch
from torch import nn

from workbench.data.atomic import atomic_directory
from workbench.errors import InputError
from workbench.features import OWN
from workbench.speechllm.backbone import (
    CONFIG_FILE,
    LORA_DIR,
    SpeechBackbone,
    cut_after_end,
    read_speechllm_meta,
    with_defaults,
)
from workbench.speechllm.prompts import PromptConfig, prompt_text, render_chat

PROJECTOR_WEIGHTS = "projector.safetensors"
_FORMAT = 1


@dataclass(frozen=True)
class SpeechLLMConfig:
    """Shapes and adapters of the speech LLM (seed 001 §3.2 where it says, our defaults elsewhere)."""

    downsample: int = 2  # neighbouring encoder frames concatenated into one LLM position (seed 001: 2x)
    adapter_hidden: int = 1024  # width of the two-layer adapter's hidden layer
    lora_rank: int = 16  # seed 001 uses 64 on a 7B LLM; 16 fits a 135M LM and a CPU
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    lora_targets: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj")

    def __post_init__(self) -> None:
        if self.downsample < 1 or self.adapter_hidden < 1 or self.lora_rank < 1:
            raise ValueError("speechllm: downsample, adapter_hidden and lora_rank must be >= 1")


class FrameAdapter(nn.Module):
    """Concatenate ``downsample`` neighbouring frames, then Linear -> ReLU -> Linear into the LM width."""

    def __init__(self, audio_dim: int, lm_dim: int, config: SpeechLLMConfig):
        super().__init__()
        self.downsample = config.downsample
        self.net = nn.Sequential(
            nn.Linear(audio_dim * config.downsample, config.adapter_hidden), nn.ReLU(),
            nn.Linear(config.adapter_hidden, lm_dim),
        )

    def forward(self, states: torch.Tensor) -> torch.Tensor:
        """One clip's states [T, d] -> [ceil(T / downsample), lm_dim] (the tail is zero-padded)."""
        frames, dim = states.shape
        extra = (-frames) % self.downsample
        if extra:
            states = torch.cat([states, states.new_zeros(extra, dim)])
        return self.net(states.reshape(-1, dim * self.downsample))


class AdapterLM(SpeechBackbone):
    """The adapter and a (LoRA-wrapped) causal LM; the tokenizer travels with it."""

    kind = "adapter_lm"
    layout = OWN

    def __init__(self, lm, tokenizer, adapter: FrameAdapter, config: SpeechLLMConfig, audio_dim: int):
        super().__init__()
        self.lm = lm
        self.adapter = adapter
        self.tokenizer = tokenizer
        self.config = config
        self.audio_dim = audio_dim

    def render_prompt(self, words: Sequence[str], prompts: PromptConfig, language: str | None) -> str:
        return render_chat(self.tokenizer, prompt_text(words, prompts), prompts.system)

    def completion_ids(self, text: str) -> list[int]:
        return self.tokenizer(text, add_special_tokens=False)["input_ids"] + [self.tokenizer.eos_token_id]

    def audio(self, states: Sequence[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """Adapter outputs of each clip, right-padded: [B, A, D] and a [B, A] mask (1 = real)."""
        dtype = self.lm.get_input_embeddings().weight.dtype
        rows = [self.adapter(s.to(self.device, torch.float32)).to(dtype) for s in states]
        lengths = torch.tensor([r.shape[0] for r in rows], device=self.device)
        padded = nn.utils.rnn.pad_sequence(rows, batch_first=True)
        mask = (torch.arange(padded.shape[1], device=self.device)[None, :] < lengths[:, None]).long()
        return padded, mask

    def model_inputs(self, audio: tuple[torch.Tensor, torch.Tensor], input_ids: torch.Tensor,
                     attention_mask: torch.Tensor, lm=None) -> tuple[dict[str, torch.Tensor], int]:
        """``inputs_embeds``, ``attention_mask`` and ``position_ids`` of [audio][text ids]."""
        lm = self.lm if lm is None else lm
        audio_embeds, audio_mask = audio
        text_embeds = lm.get_input_embeddings()(input_ids)
        embeds = torch.cat([audio_embeds.to(text_embeds.dtype), text_embeds], dim=1)
        mask = torch.cat([audio_mask, attention_mask.to(audio_mask.dtype)], dim=1)
        positions = (mask.cumsum(dim=1) - 1).clamp(min=0)
        return {"inputs_embeds": embeds, "attention_mask": mask, "position_ids": positions}, audio_embeds.shape[1]

    def generate_ids(self, audio, input_ids: torch.Tensor, attention_mask: torch.Tensor, lm=None,
                     **generation) -> list[list[int]]:
        lm = self.lm if lm is None else lm
        inputs, _ = self.model_inputs(audio, input_ids.to(self.device), attention_mask.to(self.device), lm=lm)
        generation = with_defaults(generation, pad_token_id=self.tokenizer.pad_token_id,
                                   eos_token_id=self.tokenizer.eos_token_id)
        # with inputs_embeds only, generate returns the new tokens
        return cut_after_end(lm.generate(**inputs, **generation), self.end_ids)

    # --- persistence: the adapter (projector) and the LoRA weights, never the 135M base LM ---

    def save(self, directory: Path, extra: dict | None = None) -> None:
        with atomic_directory(Path(directory)) as tmp:
            adapter = {k: v.detach().cpu().contiguous() for k, v in self.adapter.state_dict().items()}
            safetensors.torch.save_file(adapter, str(tmp / PROJECTOR_WEIGHTS))
            # only our adapter: trl's GRPO adds a frozen copy ("ref") as its KL reference
            self.lm.save_pretrained(str(tmp / LORA_DIR), selected_adapters=["default"])
            meta = {"format": _FORMAT, "backbone": self.kind, "config": dataclasses.asdict(self.config),
                    "audio_dim": self.audio_dim, **(extra or {})}
            (tmp / CONFIG_FILE).write_text(json.dumps(meta, indent=2, ensure_ascii=False), encoding="utf-8")


def load_causal_lm(path: Path | str, dtype: torch.dtype = torch.float32):
    """A HF causal LM and its tokenizer from a local directory (never a hub download)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = Path(path)
    if not (path / "config.json").is_file():
        raise InputError(f"no causal LM at {path} (config.json missing); run `dvc repro assets` "
                         "or pass a model directory")
    tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    lm = AutoModelForCausalLM.from_pretrained(str(path), local_files_only=True, dtype=dtype)
    return lm, tokenizer


def build_adapter_lm(lm_path: Path | str, audio_dim: int, config: SpeechLLMConfig, seed: int = 0) -> AdapterLM:
    """A fresh speech LLM: new adapter, new LoRA on the frozen LM."""
    from peft import LoraConfig, get_peft_model

    lm, tokenizer = load_causal_lm(lm_path)
    torch.manual_seed(seed)
    adapter = FrameAdapter(audio_dim, lm.config.hidden_size, config)
    lora = LoraConfig(r=config.lora_rank, lora_alpha=config.lora_alpha, lora_dropout=config.lora_dropout,
                      target_modules=list(config.lora_targets), task_type="CAUSAL_LM")
    return AdapterLM(get_peft_model(lm, lora), tokenizer, adapter, config, audio_dim)


def load_adapter_lm(directory: Path | str, lm_path: Path | str, trainable_lora: bool = False) -> AdapterLM:
    """A saved adapter_lm backbone (``save`` output) on top of the base LM at ``lm_path``."""
    from peft import PeftModel

    directory = Path(directory)
    meta = read_speechllm_meta(directory)
    fields = {f.name for f in dataclasses.fields(SpeechLLMConfig)}
    raw = {k: v for k, v in meta["config"].items() if k in fields}
    config = SpeechLLMConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in raw.items()})
    lm, tokenizer = load_causal_lm(lm_path)
    lm = PeftModel.from_pretrained(lm, str(directory / LORA_DIR), is_trainable=trainable_lora)
    adapter = FrameAdapter(int(meta["audio_dim"]), lm.config.hidden_size, config)
    adapter.load_state_dict(safetensors.torch.load_file(str(directory / PROJECTOR_WEIGHTS)))
    return AdapterLM(lm, tokenizer, adapter, config, int(meta["audio_dim"]))
