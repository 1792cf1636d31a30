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


def tiny_causal_lm(directory: Path, seed: int = 0, corpus: list[str] | None = None) -> Path:
    """A randomly initialised 2-layer Llama with a byte-level BPE tokenizer trained here on
    ``corpus``, saved in HF format (with a chat template) to ``directory``."""
    import torch
    from tokenizers import ByteLevelBPETokenizer
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    corpus = corpus or ["transcribe the audio into text these biasing words you may use",
                        "hello world the quick brown fox jumps over the lazy dog"]
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(corpus, vocab_size=400, min_frequency=1,
                            special_tokens=["<|endoftext|>", "<|im_start|>", "<|im_end|>"])
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=bpe._tokenizer, eos_token="<|im_end|>",
                                        pad_token="<|endoftext|>", bos_token="<|im_start|>")
    tokenizer.chat_template = _TINY_CHAT_TEMPLATE
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
