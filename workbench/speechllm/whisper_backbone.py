"""The ``whisper`` backbone: Whisper's pretrained decoder as a prompt-conditioned LLM-ASR (issue 21).

Whisper already transcribes, and its decoder already conditions on text before the transcript:
``<|startofprev|> previous text <|startoftranscript|><|en|><|transcribe|><|notimestamps|>``. The
biasing list of seed 001 goes into that previous-text slot (``prompt_style``: the bare list, as
seed 004's S1 prompt does, or seed 001's sentence); LoRA adapts the decoder's attention.

The model is transformers' ``WhisperForConditionalGeneration`` with the weights of the workbench's
openai-whisper checkpoint copied in (the two layouts name the same tensors differently; the logits
agree exactly, tested), so trl's GRPO trainer, peft and ``generate`` work on it unchanged, and its
tokenizer is a transformers fast tokenizer built from the same tiktoken ranks and special tokens
(identical ids, tested). The encoder stays frozen: its states come precomputed from a padded
feature store (``encode --layout padded``: Whisper's decoder was trained on 30-s windows).
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
import whisper

from workbench.data.atomic import atomic_directory
from workbench.errors import InputError
from workbench.features import PADDED
from workbench.speechllm.backbone import CONFIG_FILE, LORA_DIR, SpeechBackbone, cut_after_end, with_defaults
from workbench.speechllm.prompts import PromptConfig

PROMPT_STYLES = ("auto", "seed", "list")
_BLOCK = re.compile(r"(encoder|decoder)\.blocks\.(\d+)\.(.+)\.(weight|bias)$")
_BLOCK_NAMES = {
    "attn.query": "self_attn.q_proj", "attn.key": "self_attn.k_proj", "attn.value": "self_attn.v_proj",
    "attn.out": "self_attn.out_proj", "cross_attn.query": "encoder_attn.q_proj",
    "cross_attn.key": "encoder_attn.k_proj", "cross_attn.value": "encoder_attn.v_proj",
    "cross_attn.out": "encoder_attn.out_proj", "attn_ln": "self_attn_layer_norm",
    "cross_attn_ln": "encoder_attn_layer_norm", "mlp.0": "fc1", "mlp.2": "fc2", "mlp_ln": "final_layer_norm",
}
_TOP_NAMES = {
    "encoder.positional_embedding": "model.encoder.embed_positions.weight",
    "decoder.positional_embedding": "model.decoder.embed_positions.weight",
    "decoder.token_embedding.weight": "model.decoder.embed_tokens.weight",
    "encoder.ln_post.weight": "model.encoder.layer_norm.weight",
    "encoder.ln_post.bias": "model.encoder.layer_norm.bias",
    "decoder.ln.weight": "model.decoder.layer_norm.weight", "decoder.ln.bias": "model.decoder.layer_norm.bias",
}


@dataclass(frozen=True)
class WhisperBackboneConfig:
    """The Whisper backbone's prompt and adapters (params.yaml ``sft_speechllm.whisper``)."""

    # seed: seed 001's sentence "These biasing words you may use: A, B" as previous text; list: the bare
    # "A, B" (S1's form); auto: the sentence for English utterances, the list for every other language.
    # By measurement (issue 21, untouched Whisper base): on en_entities the sentence gives the same KER
    # and a WER 1.2-2.4 points lower under GT, top-2 and top-5 lists; on cmn_eng the English sentence
    # is read as earlier English speech and Whisper answers in English or with the hotword alone
    prompt_style: str = "auto"
    lora_rank: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    # decoder self-attention and the cross-attention queries/outputs; the cross-attention keys/values
    # project all 1500 frames (costly on CPU, see workbench.asr.lora) and the encoder is frozen
    lora_targets: str = r"model\.decoder\.layers\.\d+\.(self_attn\.(q|k|v|out)_proj|encoder_attn\.(q|out)_proj)"

    def __post_init__(self) -> None:
        if self.prompt_style not in PROMPT_STYLES:
            raise ValueError(f"prompt_style must be one of {PROMPT_STYLES}, got {self.prompt_style!r}")
        if self.lora_rank < 1 or self.lora_alpha <= 0 or not 0 <= self.lora_dropout < 1:
            raise ValueError("whisper: lora_rank >= 1, lora_alpha > 0 and lora_dropout in [0, 1) needed")


def openai_tokenizer(model: whisper.Whisper):
    return whisper.tokenizer.get_tokenizer(model.is_multilingual, num_languages=model.num_languages)


def hf_whisper(model: whisper.Whisper):
    """transformers' ``WhisperForConditionalGeneration`` holding ``model``'s weights (eval mode)."""
    from transformers import WhisperConfig, WhisperForConditionalGeneration

    dims, tokenizer = model.dims, openai_tokenizer(model)
    config = WhisperConfig(
        vocab_size=dims.n_vocab, num_mel_bins=dims.n_mels, d_model=dims.n_audio_state,
        encoder_layers=dims.n_audio_layer, encoder_attention_heads=dims.n_audio_head,
        decoder_layers=dims.n_text_layer, decoder_attention_heads=dims.n_text_head,
        encoder_ffn_dim=4 * dims.n_audio_state, decoder_ffn_dim=4 * dims.n_text_state,
        max_source_positions=dims.n_audio_ctx, max_target_positions=dims.n_text_ctx,
        decoder_start_token_id=tokenizer.sot, pad_token_id=tokenizer.eot, bos_token_id=tokenizer.eot,
        eos_token_id=tokenizer.eot, tie_word_embeddings=True,
    )
    state = {}
    for name, tensor in model.state_dict().items():
        block = _BLOCK.match(name)
        if block:
            part, index, module, kind = block.groups()
            state[f"model.{part}.layers.{index}.{_BLOCK_NAMES[module]}.{kind}"] = tensor
        elif name in _TOP_NAMES:
            state[_TOP_NAMES[name]] = tensor
        elif name.startswith("encoder.conv"):
            state[f"model.{name}"] = tensor
        elif name != "alignment_heads":
            raise KeyError(f"unexpected openai-whisper tensor {name}")
    hf = WhisperForConditionalGeneration(config)
    missing, unexpected = hf.load_state_dict(state, strict=False)
    if unexpected or set(missing) - {"proj_out.weight"}:  # proj_out is tied to the token embedding
        raise RuntimeError(f"Whisper conversion: missing {missing}, unexpected {unexpected}")
    hf.tie_weights()
    hf.generation_config.eos_token_id = tokenizer.eot
    hf.generation_config.pad_token_id = tokenizer.eot
    return hf.eval()


def hf_tokenizer(model: whisper.Whisper):
    """A transformers fast tokenizer with the ids of ``model``'s tiktoken tokenizer."""
    from transformers import PreTrainedTokenizerFast
    from transformers.convert_slow_tokenizer import TikTokenConverter

    encoding = openai_tokenizer(model).encoding
    ranks = Path(whisper.__file__).parent / "assets" / Path(encoding.name).with_suffix(".tiktoken").name
    specials = dict(sorted(encoding._special_tokens.items(), key=lambda item: item[1]))  # added in id order
    converter = TikTokenConverter(vocab_file=str(ranks), pattern=encoding._pat_str, extra_special_tokens=specials)
    fast = converter.converted()
    return PreTrainedTokenizerFast(tokenizer_object=fast, eos_token="<|endoftext|>", pad_token="<|endoftext|>")


class WhisperBackbone(SpeechBackbone):
    kind = "whisper"
    layout = PADDED

    def __init__(self, lm, checkpoint: str, original: whisper.Whisper, config: WhisperBackboneConfig):
        super().__init__()
        self.lm = lm
        self.checkpoint = checkpoint
        self.config = config
        self.tokenizer = hf_tokenizer(original)
        self.whisper_tokenizer = openai_tokenizer(original)
        self.multilingual = original.is_multilingual
        tok = self.whisper_tokenizer
        # what openai-whisper suppresses when decoding without timestamps (DecodingTask's logit filters)
        self.suppress = sorted({*tok.non_speech_tokens, tok.translate, tok.transcribe, tok.sot, tok.sot_prev,
                                tok.sot_lm, tok.no_speech, tok.no_timestamps,
                                *range(tok.timestamp_begin, original.dims.n_vocab)} - {-1})
        self.begin_suppress = [*tok.encode(" "), tok.eot]

    def render_prompt(self, words: Sequence[str], prompts: PromptConfig, language: str | None) -> str:
        tok = self.whisper_tokenizer
        start = [tok.sot]
        if self.multilingual:  # language and task tokens (English-only models have none)
            code = language or "en"
            if code not in whisper.tokenizer.LANGUAGES:
                raise InputError(f"language {code!r} is not one of Whisper's language codes")
            start += [tok.to_language_token(code), tok.transcribe]
        head = "".join(self.tokenizer.convert_ids_to_tokens([*start, tok.no_timestamps]))
        if not words:
            return head
        listed = prompts.separator.join(words)
        sentence = self.config.prompt_style == "seed" or (self.config.prompt_style == "auto" and
                                                          (language or "en") == "en")
        text = f"{prompts.bias_intro} {listed}" if sentence else listed
        return f"<|startofprev|> {text}{head}"

    def completion_ids(self, text: str) -> list[int]:
        from workbench.asr.nbest import text_tokens

        return text_tokens(self.whisper_tokenizer, text) + [self.whisper_tokenizer.eot]

    def audio(self, states: Sequence[torch.Tensor]) -> torch.Tensor:
        return torch.stack([s.to(self.device, torch.float32) for s in states])

    def model_inputs(self, audio: torch.Tensor, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                     lm=None) -> tuple[dict[str, torch.Tensor], int]:
        positions = (attention_mask.long().cumsum(dim=1) - 1).clamp(min=0)  # left padding keeps positions
        return {"encoder_outputs": (audio,), "decoder_input_ids": input_ids, "decoder_attention_mask": attention_mask,
                "decoder_position_ids": positions}, 0

    def generate_ids(self, audio: torch.Tensor, input_ids: torch.Tensor, attention_mask: torch.Tensor, lm=None,
                     **generation) -> list[list[int]]:
        from transformers import GenerationMixin
        from transformers.modeling_outputs import BaseModelOutput

        lm = self.lm if lm is None else lm
        model = lm.get_base_model() if hasattr(lm, "get_base_model") else lm  # peft injects LoRA in place
        generation = with_defaults(generation, pad_token_id=self.whisper_tokenizer.eot,
                                   eos_token_id=self.whisper_tokenizer.eot, suppress_tokens=self.suppress,
                                   begin_suppress_tokens=self.begin_suppress)
        # the generic encoder-decoder generate: Whisper's own wraps it with long-form and language
        # detection logic, and we give the prompt, language and task ourselves
        out = GenerationMixin.generate(
            model, encoder_outputs=BaseModelOutput(last_hidden_state=audio),
            decoder_input_ids=input_ids.to(self.device), decoder_attention_mask=attention_mask.to(self.device),
            **generation)
        return cut_after_end(out[:, input_ids.shape[1]:], self.end_ids)

    def save(self, directory: Path, extra: dict | None = None) -> None:
        with atomic_directory(Path(directory)) as tmp:
            self.lm.save_pretrained(str(tmp / LORA_DIR), selected_adapters=["default"])
            meta = {"format": 1, "backbone": self.kind, "whisper": self.checkpoint,
                    "config": dataclasses.asdict(self.config), **(extra or {})}
            (tmp / CONFIG_FILE).write_text(json.dumps(meta, indent=2, ensure_ascii=False), encoding="utf-8")


def build_whisper_backbone(checkpoint: str, config: WhisperBackboneConfig, seed: int = 0,
                           lora: bool = True) -> WhisperBackbone:
    """Whisper from ``checkpoint`` with fresh LoRA on its decoder (``lora=False``: the vanilla model)."""
    from peft import LoraConfig, get_peft_model

    from workbench.asr.whisper_model import load_whisper

    original = load_whisper(checkpoint)
    model = hf_whisper(original)
    torch.manual_seed(seed)
    adapters = LoraConfig(r=config.lora_rank, lora_alpha=config.lora_alpha, lora_dropout=config.lora_dropout,
                          target_modules=config.lora_targets)
    peft_model = get_peft_model(model, adapters)
    if not lora:
        peft_model.base_model.disable_adapter_layers()  # vanilla: B = 0 anyway, and no dropout path
    return WhisperBackbone(peft_model, checkpoint, original, config)


def load_whisper_backbone(directory: Path | str, meta: dict, trainable_lora: bool = False) -> WhisperBackbone:
    """A saved Whisper backbone: the checkpoint it names plus its LoRA weights."""
    from peft import PeftModel

    from workbench.asr.whisper_model import load_whisper

    config = WhisperBackboneConfig(**meta["config"])
    original = load_whisper(meta["whisper"])
    lm = PeftModel.from_pretrained(hf_whisper(original), str(Path(directory) / LORA_DIR), is_trainable=trainable_lora)
    return WhisperBackbone(lm, meta["whisper"], original, config)
