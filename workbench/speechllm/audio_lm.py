"""The ``audio_lm`` backbone: a Hugging Face audio-language model (transformers'
``Qwen2AudioForConditionalGeneration``, the Qwen2-Audio family) loaded from a local directory, for
GPU users (issue 21). Its own audio tower (Whisper-large-v3 shaped, frozen) encodes log-mel
features, a projector maps them into its Qwen2 language model, LoRA adapts that model's attention.

Prompt, in the model's own format: the chat template (Qwen2-Audio-Instruct's renders an audio item
as ``Audio 1: <|audio_bos|><|AUDIO|><|audio_eos|>``) with the seed 001 instruction and biasing list
as the user's text (``prompts.prompt_text``); without a template that handles audio items, the
audio block goes in front of the text. As the Qwen2-Audio processor does, the ``<|AUDIO|>``
placeholder is expanded to one token per audio-tower output position, and the model writes its
projected audio states into those positions (``masked_scatter``): the audio sits inside the text
sequence, so logits, labels and trl's prompt/completion ids line up with the token ids (offset 0),
and left padding only shifts positions (given explicitly). trl tokenizes the rendered prompt string
again, so the expansion must be in the string, before any clip is seen: every clip is therefore
padded with digital silence to ``window_seconds`` and the feature mask covers that window, which
gives a fixed placeholder count (750 for 30 s). The features are exactly what the Qwen2-Audio
processor computes for the clip followed by that silence (a test).

Features (the ``mel`` layout, ``workbench.speechllm.data``): log-mel of the manifest audio by
transformers' ``WhisperFeatureExtractor`` with Qwen2-Audio's settings (128 bins, 30-s windows),
computed when the data is loaded (no feature store: the audio tower runs in every forward pass).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from workbench.data.atomic import atomic_directory
from workbench.errors import AudioError, InputError
from workbench.speechllm.backbone import CONFIG_FILE, LORA_DIR, SpeechBackbone, cut_after_end, with_defaults
from workbench.speechllm.prompts import PromptConfig, prompt_text, render_chat

MEL = "mel"  # the layout of what this backbone reads: log-mel windows of the audio files
SAMPLE_RATE = 16_000
# Qwen2-Audio's preprocessor_config.json: WhisperFeatureExtractor with 128 bins and 30-s windows
FEATURES = {"feature_size": 128, "sampling_rate": SAMPLE_RATE, "hop_length": 160, "chunk_length": 30, "n_fft": 400}
WINDOW_FRAMES = FEATURES["chunk_length"] * SAMPLE_RATE // FEATURES["hop_length"]  # 3000
AUDIO_BOS, AUDIO_EOS = "<|audio_bos|>", "<|audio_eos|>"
DTYPES = ("float32", "bfloat16", "float16")
_FORMAT = 1


@dataclass(frozen=True)
class AudioLMConfig:
    """The audio_lm backbone (params.yaml ``sft_speechllm.audio_lm``; the checkpoint directory is ``lm``)."""

    # every clip is padded with silence to this length: the prompt holds a fixed number of audio
    # placeholders (trl re-tokenizes prompts without their audio); at most the tower's 30-s window,
    # at least the longest clip; 30 s = 750 audio tokens, 10 s = 250
    window_seconds: float = 30.0
    dtype: str = "float32"  # the model's weights: bfloat16 halves the memory of a 7B model on a GPU
    lora_rank: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    # the language model's attention only (the audio tower has q/k/v projections too: it stays frozen)
    lora_targets: str = r"model\.language_model\.layers\.\d+\.self_attn\.(q|k|v|o)_proj"

    def __post_init__(self) -> None:
        if not 1.0 <= self.window_seconds <= FEATURES["chunk_length"]:
            raise ValueError(f"audio_lm.window_seconds must be in [1, 30], got {self.window_seconds}")
        if self.dtype not in DTYPES:
            raise ValueError(f"audio_lm.dtype must be one of {DTYPES}, got {self.dtype!r}")
        if self.lora_rank < 1 or self.lora_alpha <= 0 or not 0 <= self.lora_dropout < 1:
            raise ValueError("audio_lm: lora_rank >= 1, lora_alpha > 0 and lora_dropout in [0, 1) needed")

    @property
    def window_frames(self) -> int:
        return round(self.window_seconds * SAMPLE_RATE / FEATURES["hop_length"])


def audio_token_count(frames: int) -> int:
    """Audio-tower output positions of ``frames`` log-mel frames (the processor's rule: conv stride
    2, then average pooling 2)."""
    return ((frames - 1) // 2 + 1 - 2) // 2 + 1


def feature_extractor():
    """transformers' ``WhisperFeatureExtractor`` with Qwen2-Audio's settings, built offline."""
    from transformers import WhisperFeatureExtractor

    return WhisperFeatureExtractor(**FEATURES, padding_value=0.0, return_attention_mask=True)


def clip_features(extractor, clip) -> torch.Tensor:
    """One clip's log-mel window, stored compactly: [128, k + 1], the first k = min(L + 2, 3000)
    frames of its 30-s window (L frames of audio and the two its last samples still reach), then
    one frame of the silence after it (every later frame equals it). ``AudioLM.audio`` rebuilds
    the whole window."""
    if len(clip) > FEATURES["chunk_length"] * SAMPLE_RATE:
        raise AudioError(f"clip of {len(clip) / SAMPLE_RATE:.1f} s is longer than the audio tower's 30-s window")
    out = extractor(clip, sampling_rate=SAMPLE_RATE, padding="max_length", return_attention_mask=True,
                    return_tensors="pt")
    window, frames = out["input_features"][0], int(out["attention_mask"][0].sum())
    return torch.cat([window[:, : min(frames + 2, WINDOW_FRAMES)], window[:, -1:]], dim=1).float()


def mel_features(audio: Mapping[str, Path] | None, ids: Iterable[str]) -> dict[str, torch.Tensor]:
    """``clip_features`` of the files ``audio`` maps utterance ids to."""
    from workbench.data import load_audio

    if audio is None:
        raise InputError("the audio_lm backbone computes log-mel features from the utterances' audio files, "
                         "and none were given")
    extractor = feature_extractor()
    out = {}
    for utt_id in ids:
        if utt_id not in audio:
            raise InputError(f"no audio file for utterance {utt_id}")
        out[utt_id] = clip_features(extractor, load_audio(audio[utt_id]))
    return out


def load_qwen2_audio(path: Path | str, dtype: str = "float32"):
    """``Qwen2AudioForConditionalGeneration`` and its tokenizer from a local directory (never a
    hub download), checked against the feature settings the ``mel`` layout computes."""
    from transformers import AutoTokenizer, Qwen2AudioForConditionalGeneration

    path = Path(path)
    if not (path / "config.json").is_file():
        raise InputError(f"no audio-language model at {path} (config.json missing): give a Qwen2-Audio "
                         "checkpoint directory as sft_speechllm.lm")
    kind = json.loads((path / "config.json").read_text(encoding="utf-8")).get("model_type")
    if kind != "qwen2_audio":
        raise InputError(f"{path}: model_type {kind!r}, the audio_lm backbone loads qwen2_audio models")
    preprocessor = path / "preprocessor_config.json"
    if preprocessor.is_file():
        saved = json.loads(preprocessor.read_text(encoding="utf-8"))
        differ = {k: saved[k] for k, v in FEATURES.items() if k in saved and saved[k] != v}
        if differ:
            raise InputError(f"{preprocessor}: feature settings {differ} differ from Qwen2-Audio's {FEATURES}")
    tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = Qwen2AudioForConditionalGeneration.from_pretrained(str(path), local_files_only=True,
                                                               dtype=getattr(torch, dtype))
    return model.eval(), tokenizer


class AudioLM(SpeechBackbone):
    kind = "audio_lm"
    layout = MEL

    def __init__(self, lm, tokenizer, checkpoint: str, config: AudioLMConfig):
        super().__init__()
        self.lm = lm
        self.tokenizer = tokenizer
        self.checkpoint = checkpoint
        self.config = config
        model_config = self.model.config
        audio_config = model_config.audio_config
        if audio_config.num_mel_bins != FEATURES["feature_size"] or \
                audio_config.max_source_positions * 2 != WINDOW_FRAMES:
            raise InputError(f"{checkpoint}: the audio tower takes {audio_config.num_mel_bins} mel bins x "
                             f"{audio_config.max_source_positions * 2} frames, not Qwen2-Audio's 128 x 3000")
        self.audio_token = tokenizer.convert_ids_to_tokens(model_config.audio_token_id)
        specials = [tokenizer.convert_tokens_to_ids(t) for t in (AUDIO_BOS, AUDIO_EOS)]
        if None in specials or tokenizer.unk_token_id in specials or self.audio_token is None:
            raise InputError(f"{checkpoint}: the tokenizer lacks Qwen2-Audio's {AUDIO_BOS}, {AUDIO_EOS} or the "
                             f"audio token (id {model_config.audio_token_id})")
        # never generated: a placeholder in a completion would take audio states that do not exist
        self.suppress = [model_config.audio_token_id, *specials]
        self.audio_tokens = audio_token_count(config.window_frames)
        ends = self.model.generation_config.eos_token_id
        self._end_ids = {int(tokenizer.eos_token_id), *([ends] if isinstance(ends, int) else ends or [])}
        # the audio tower is frozen: no dropout in it either, also when trl puts the model in training mode
        for module in self.model.model.audio_tower.modules():
            for name in ("dropout", "activation_dropout", "layerdrop"):
                if isinstance(getattr(module, name, None), float):
                    setattr(module, name, 0.0)

    @property
    def model(self):
        """The ``Qwen2AudioForConditionalGeneration`` (peft injects LoRA into it in place)."""
        return self.lm.get_base_model()

    @property
    def end_ids(self) -> set[int]:
        return self._end_ids

    def render_prompt(self, words: Sequence[str], prompts: PromptConfig, language: str | None) -> str:
        text, audio = prompt_text(words, prompts), self.audio_token
        rendered = None
        if getattr(self.tokenizer, "chat_template", None):
            messages = ([{"role": "system", "content": prompts.system}] if prompts.system else []) + [
                {"role": "user", "content": [{"type": "audio"}, {"type": "text", "text": text}]}]
            rendered = self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        if rendered is None or rendered.count(audio) != 1:  # a template without audio items
            rendered = render_chat(self.tokenizer, f"{AUDIO_BOS}{audio}{AUDIO_EOS}\n{text}", prompts.system)
        return rendered.replace(audio, audio * self.audio_tokens)

    def completion_ids(self, text: str) -> list[int]:
        return self.tokenizer(text, add_special_tokens=False)["input_ids"] + [self.tokenizer.eos_token_id]

    def audio(self, states: Sequence[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """Each clip's whole 30-s log-mel window [B, 128, 3000] and the feature mask of
        ``window_seconds`` (the clip and the silence after it)."""
        frames = self.config.window_frames
        rows = []
        for stored in states:
            if stored.dim() != 2 or stored.shape[0] != FEATURES["feature_size"]:
                raise InputError(f"audio_lm reads log-mel features [128, frames], got {tuple(stored.shape)} "
                                 "(encoder states of another backbone?)")
            body, silence = stored[:, :-1], stored[:, -1:]
            if body.shape[1] - 2 > frames:
                raise InputError(f"a clip of {(body.shape[1] - 2) / 100:.2f} s is longer than "
                                 f"audio_lm.window_seconds={self.config.window_seconds}")
            rows.append(torch.cat([body, silence.expand(-1, WINDOW_FRAMES - body.shape[1])], dim=1))
        dtype = self.model.model.audio_tower.conv1.weight.dtype
        features = torch.stack(rows).to(self.device, dtype)
        mask = torch.zeros((len(rows), WINDOW_FRAMES), dtype=torch.long, device=self.device)
        mask[:, :frames] = 1
        return features, mask

    def model_inputs(self, audio: tuple[torch.Tensor, torch.Tensor], input_ids: torch.Tensor,
                     attention_mask: torch.Tensor, lm=None) -> tuple[dict[str, torch.Tensor], int]:
        """The token ids (placeholders included), their mask and positions, and the log-mel windows:
        the audio states land on the placeholder positions, so the offset is 0."""
        features, feature_mask = audio
        positions = (attention_mask.long().cumsum(dim=1) - 1).clamp(min=0)  # left padding keeps positions
        return {"input_ids": input_ids, "attention_mask": attention_mask, "position_ids": positions,
                "input_features": features, "feature_attention_mask": feature_mask}, 0

    def token_logprobs(self, audio, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                       targets: torch.Tensor) -> torch.Tensor:
        """As the interface's, with the LM head applied at the target positions only (the prompt
        holds hundreds of audio positions, and a Qwen2 vocabulary has 151k entries)."""
        inputs, _ = self.model_inputs(audio, input_ids, attention_mask)
        hidden = self.model.model(**inputs, use_cache=False).last_hidden_state
        keep = targets >= 0
        logp = torch.log_softmax(self.model.lm_head(hidden[keep]).float(), dim=-1)
        out = torch.zeros(targets.shape, dtype=logp.dtype, device=logp.device)
        out[keep] = logp.gather(-1, targets[keep].unsqueeze(-1)).squeeze(-1)
        return out

    def generate_ids(self, audio, input_ids: torch.Tensor, attention_mask: torch.Tensor, lm=None,
                     **generation) -> list[list[int]]:
        lm = self.lm if lm is None else lm
        model = lm.get_base_model() if hasattr(lm, "get_base_model") else lm
        inputs, _ = self.model_inputs(audio, input_ids.to(self.device), attention_mask.to(self.device))
        del inputs["position_ids"]  # generate derives them from the mask, and extends them step by step
        generation = with_defaults(generation, pad_token_id=self.tokenizer.pad_token_id,
                                   eos_token_id=sorted(self.end_ids), suppress_tokens=self.suppress)
        out = model.generate(**inputs, **generation)
        return cut_after_end(out[:, input_ids.shape[1]:], self.end_ids)

    def save(self, directory: Path, extra: dict | None = None) -> None:
        with atomic_directory(Path(directory)) as tmp:
            self.lm.save_pretrained(str(tmp / LORA_DIR), selected_adapters=["default"])
            meta = {"format": _FORMAT, "backbone": self.kind, "audio_lm": self.checkpoint,
                    "config": dataclasses.asdict(self.config), **(extra or {})}
            (tmp / CONFIG_FILE).write_text(json.dumps(meta, indent=2, ensure_ascii=False), encoding="utf-8")


def build_audio_lm(checkpoint: Path | str, config: AudioLMConfig, seed: int = 0) -> AudioLM:
    """The model at ``checkpoint`` with fresh LoRA on its language model's attention; everything
    else (audio tower, projector, the LM's weights) frozen."""
    from peft import LoraConfig, get_peft_model

    model, tokenizer = load_qwen2_audio(checkpoint, config.dtype)
    torch.manual_seed(seed)
    adapters = LoraConfig(r=config.lora_rank, lora_alpha=config.lora_alpha, lora_dropout=config.lora_dropout,
                          target_modules=config.lora_targets)
    return AudioLM(get_peft_model(model, adapters), tokenizer, str(checkpoint), config)


def load_audio_lm(directory: Path | str, meta: dict, trainable_lora: bool = False) -> AudioLM:
    """A saved audio_lm backbone: the checkpoint directory it names plus its LoRA weights."""
    from peft import PeftModel

    config = AudioLMConfig(**meta["config"])
    model, tokenizer = load_qwen2_audio(meta["audio_lm"], config.dtype)
    lm = PeftModel.from_pretrained(model, str(Path(directory) / LORA_DIR), is_trainable=trainable_lora)
    return AudioLM(lm, tokenizer, meta["audio_lm"], config)
