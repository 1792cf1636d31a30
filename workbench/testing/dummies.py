"""Builders for tiny, real fixtures: tone/noise WAVs and manifest records."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import soundfile

from workbench.data.manifest import SAMPLE_RATE


def write_tone(path: Path, seconds: float = 0.5, rate: int = SAMPLE_RATE, channels: int = 1) -> Path:
    t = np.arange(int(seconds * rate)) / rate
    samples = 0.3 * np.sin(2 * np.pi * 440 * t)
    if channels > 1:
        samples = np.stack([samples] * channels, axis=1)
    path.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(str(path), samples, rate, subtype="PCM_16")
    return path


def record(utt_id: str = "utt-1", audio: str = "a.wav", **overrides) -> dict:
    base = {"id": utt_id, "audio": audio, "duration": 0.5, "text": "hello world", "language": "en", "split": "test"}
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def write_lines(path: Path, lines: list[dict | str | bytes]) -> Path:
    """Write manifest lines: dicts as JSON, str as is, bytes raw (for encoding errors)."""
    with open(path, "wb") as handle:
        for line in lines:
            if isinstance(line, dict):
                line = json.dumps(line, ensure_ascii=False)
            handle.write((line.encode("utf-8") if isinstance(line, str) else line) + b"\n")
    return path


def tiny_whisper(seed: int = 0, multilingual: bool = True):
    """A randomly initialised Whisper with real dimensions where the tokenizer needs them."""
    import torch
    from whisper.model import ModelDimensions, Whisper

    torch.manual_seed(seed)
    dims = ModelDimensions(
        n_mels=80, n_audio_ctx=1500, n_audio_state=64, n_audio_head=2, n_audio_layer=1,
        n_vocab=51865 if multilingual else 51864, n_text_ctx=448, n_text_state=64, n_text_head=2, n_text_layer=2,
    )
    model = Whisper(dims)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.normal_(0.0, 0.5)  # spread the logits so beams differ
    return model.eval()


_TINY_CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def _tiny_tokenizer(corpus: list[str] | None, extra_special: tuple[str, ...], chat_template: str, **tokens):
    """A byte-level BPE tokenizer trained here on ``corpus`` (a default pair of sentences), with the
    ChatML specials, ``extra_special`` tokens and ``chat_template``; ``tokens``: eos_token=... etc."""
    from tokenizers import ByteLevelBPETokenizer
    from transformers import PreTrainedTokenizerFast

    corpus = corpus or ["transcribe the audio into text these biasing words you may use",
                        "hello world the quick brown fox jumps over the lazy dog"]
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(corpus, vocab_size=400, min_frequency=1,
                            special_tokens=["<|endoftext|>", "<|im_start|>", "<|im_end|>", *extra_special])
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=bpe._tokenizer, **tokens)
    tokenizer.chat_template = chat_template
    return tokenizer


def tiny_causal_lm(directory: Path, seed: int = 0, corpus: list[str] | None = None) -> Path:
    """A randomly initialised 2-layer Llama with a byte-level BPE tokenizer trained here on
    ``corpus``, saved in HF format (with a chat template) to ``directory``."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    tokenizer = _tiny_tokenizer(corpus, (), _TINY_CHAT_TEMPLATE, eos_token="<|im_end|>", pad_token="<|endoftext|>",
                                bos_token="<|im_start|>")
    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=1024,
                         eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
                         bos_token_id=tokenizer.bos_token_id, tie_word_embeddings=True)
    model = LlamaForCausalLM(config)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.normal_(0.0, 0.3)  # spread the logits so different inputs give different tokens
    directory.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(directory))
    tokenizer.save_pretrained(str(directory))
    return directory


# Qwen2-Audio-7B-Instruct's chat template (transformers' Qwen2AudioProcessor.default_chat_template)
_QWEN2_AUDIO_CHAT_TEMPLATE = (
    "{% set audio_count = namespace(value=0) %}{% for message in messages %}"
    "{% if loop.first and message['role'] != 'system' %}<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
    "{% endif %}<|im_start|>{{ message['role'] }}\n{% if message['content'] is string %}"
    "{{ message['content'] }}<|im_end|>\n{% else %}{% for content in message['content'] %}"
    "{% if 'audio' in content or 'audio_url' in content or message['type'] == 'audio' or content['type'] == 'audio' %}"
    "{% set audio_count.value = audio_count.value + 1 %}Audio {{ audio_count.value }}: "
    "<|audio_bos|><|AUDIO|><|audio_eos|>\n{% elif 'text' in content %}{{ content['text'] }}{% endif %}{% endfor %}"
    "<|im_end|>\n{% endif %}{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def tiny_qwen2_audio(directory: Path, seed: int = 0, corpus: list[str] | None = None) -> Path:
    """A randomly initialised ``Qwen2AudioForConditionalGeneration`` (a 1-layer audio tower of
    width 16 with the real 128 mel bins and 30-s window, a 2-layer Qwen2 text model) with a
    byte-level BPE tokenizer trained here holding Qwen2-Audio's special tokens and chat template,
    and Qwen2-Audio's feature-extractor settings, saved in HF format to ``directory``."""
    import torch
    from transformers import (
        Qwen2AudioConfig,
        Qwen2AudioEncoderConfig,
        Qwen2AudioForConditionalGeneration,
        Qwen2Config,
        WhisperFeatureExtractor,
    )

    tokenizer = _tiny_tokenizer(corpus, ("<|AUDIO|>", "<|audio_bos|>", "<|audio_eos|>"), _QWEN2_AUDIO_CHAT_TEMPLATE,
                                eos_token="<|im_end|>", pad_token="<|endoftext|>")
    torch.manual_seed(seed)
    text = Qwen2Config(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                       num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=2048,
                       eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
                       bos_token_id=tokenizer.pad_token_id, tie_word_embeddings=True)
    audio = Qwen2AudioEncoderConfig(num_mel_bins=128, encoder_layers=1, encoder_attention_heads=2,
                                    encoder_ffn_dim=32, d_model=16, max_source_positions=1500, dropout=0.1,
                                    attention_dropout=0.1, activation_dropout=0.1)
    config = Qwen2AudioConfig(audio_config=audio, text_config=text,
                              audio_token_index=tokenizer.convert_tokens_to_ids("<|AUDIO|>"))
    model = Qwen2AudioForConditionalGeneration(config)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if "norm" not in name:  # layer norms stay at 1 and 0
                parameter.normal_(0.0, 0.3)  # spread the logits so different clips and prompts give different tokens
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    directory.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(directory))
    tokenizer.save_pretrained(str(directory))
    WhisperFeatureExtractor(feature_size=128, sampling_rate=16000, hop_length=160, chunk_length=30, n_fft=400,
                            padding_value=0.0, return_attention_mask=True).save_pretrained(str(directory))
    return directory
