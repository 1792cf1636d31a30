"""Convert a CTranslate2 ``WhisperSpec`` model into an openai-whisper checkpoint.

The result is the dict that ``whisper.load_model(path)`` reads: ``{"dims": ..., "model_state_dict": ...}``.
CTranslate2 fuses projections that openai-whisper keeps apart, so we split them again:
self-attention ``linear_0`` is [query; key; value], cross-attention ``linear_1`` is [key; value].
Whisper's key projection has no bias; CTranslate2 stores zeros there, which we drop after checking.
"""

from __future__ import annotations

import re

import numpy as np
import torch

from workbench.assets.ctranslate2_format import CTranslate2FormatError, CTranslate2Model


def _tensor(array: np.ndarray, dtype: torch.dtype) -> torch.Tensor:
    return torch.from_numpy(np.array(array, copy=True)).to(dtype)


def _count_layers(model: CTranslate2Model, prefix: str) -> int:
    pattern = re.compile(rf"^{prefix}/layer_(\d+)/")
    return len({m.group(1) for m in map(pattern.match, model.variables) if m})


def whisper_dims(model: CTranslate2Model, n_mels: int | None = None) -> dict[str, int]:
    """The ``ModelDimensions`` of a CTranslate2 Whisper model, read from its variable shapes."""
    conv1 = model.get("encoder/conv1/weight")
    audio_ctx, audio_state = model.get("encoder/position_encodings/encodings").shape
    text_ctx, text_state = model.get("decoder/position_encodings/encodings").shape
    vocab = model.get("decoder/embeddings/weight").shape[0]
    return {
        "n_mels": int(n_mels or conv1.shape[1]),
        "n_audio_ctx": int(audio_ctx),
        "n_audio_state": int(audio_state),
        "n_audio_head": int(model.get("encoder/num_heads")),
        "n_audio_layer": _count_layers(model, "encoder"),
        "n_vocab": int(vocab),
        "n_text_ctx": int(text_ctx),
        "n_text_state": int(text_state),
        "n_text_head": int(model.get("decoder/num_heads")),
        "n_text_layer": _count_layers(model, "decoder"),
    }


def _split_rows(array: np.ndarray, parts: int) -> list[np.ndarray]:
    if array.shape[0] % parts:
        raise CTranslate2FormatError(f"cannot split {array.shape} into {parts} equal parts")
    return np.split(array, parts, axis=0)


def _attention(model, src: str, dst: str, fused: str, state: dict, dtype) -> None:
    """Map one CTranslate2 attention block onto openai-whisper's query/key/value/out."""
    if fused == "qkv":
        weights = _split_rows(model.get(f"{src}/linear_0/weight"), 3)
        biases = _split_rows(model.get(f"{src}/linear_0/bias"), 3)
        names = ("query", "key", "value")
        out = f"{src}/linear_1"
    else:  # cross attention: separate query, fused key/value
        kv_w = _split_rows(model.get(f"{src}/linear_1/weight"), 2)
        kv_b = _split_rows(model.get(f"{src}/linear_1/bias"), 2)
        weights = [model.get(f"{src}/linear_0/weight"), *kv_w]
        biases = [model.get(f"{src}/linear_0/bias"), *kv_b]
        names = ("query", "key", "value")
        out = f"{src}/linear_2"
    for name, weight, bias in zip(names, weights, biases):
        state[f"{dst}.{name}.weight"] = _tensor(weight, dtype)
        if name == "key":
            if np.abs(bias.astype(np.float32)).max() > 0:
                raise CTranslate2FormatError(f"{src}: non-zero key bias cannot map to Whisper")
            continue
        state[f"{dst}.{name}.bias"] = _tensor(bias, dtype)
    state[f"{dst}.out.weight"] = _tensor(model.get(f"{out}/weight"), dtype)
    state[f"{dst}.out.bias"] = _tensor(model.get(f"{out}/bias"), dtype)


def _layer_norm(model, src: str, dst: str, state: dict, dtype) -> None:
    state[f"{dst}.weight"] = _tensor(model.get(f"{src}/gamma"), dtype)
    state[f"{dst}.bias"] = _tensor(model.get(f"{src}/beta"), dtype)


def _linear(model, src: str, dst: str, state: dict, dtype) -> None:
    state[f"{dst}.weight"] = _tensor(model.get(f"{src}/weight"), dtype)
    state[f"{dst}.bias"] = _tensor(model.get(f"{src}/bias"), dtype)


def ctranslate2_to_whisper_checkpoint(model: CTranslate2Model, dtype: torch.dtype = torch.float32) -> dict:
    """Build the openai-whisper checkpoint dict (dims + state dict) from a parsed CTranslate2 model."""
    if model.spec_name != "WhisperSpec":
        raise CTranslate2FormatError(f"expected a WhisperSpec model, got {model.spec_name}")
    dims = whisper_dims(model)
    state: dict[str, torch.Tensor] = {}
    for conv in ("conv1", "conv2"):
        _linear(model, f"encoder/{conv}", f"encoder.{conv}", state, dtype)
    state["encoder.positional_embedding"] = _tensor(model.get("encoder/position_encodings/encodings"), torch.float32)
    for i in range(dims["n_audio_layer"]):
        src, dst = f"encoder/layer_{i}", f"encoder.blocks.{i}"
        _attention(model, f"{src}/self_attention", f"{dst}.attn", "qkv", state, dtype)
        _layer_norm(model, f"{src}/self_attention/layer_norm", f"{dst}.attn_ln", state, dtype)
        _linear(model, f"{src}/ffn/linear_0", f"{dst}.mlp.0", state, dtype)
        _linear(model, f"{src}/ffn/linear_1", f"{dst}.mlp.2", state, dtype)
        _layer_norm(model, f"{src}/ffn/layer_norm", f"{dst}.mlp_ln", state, dtype)
    _layer_norm(model, "encoder/layer_norm", "encoder.ln_post", state, dtype)

    state["decoder.token_embedding.weight"] = _tensor(model.get("decoder/embeddings/weight"), dtype)
    state["decoder.positional_embedding"] = _tensor(model.get("decoder/position_encodings/encodings"), dtype)
    for i in range(dims["n_text_layer"]):
        src, dst = f"decoder/layer_{i}", f"decoder.blocks.{i}"
        _attention(model, f"{src}/self_attention", f"{dst}.attn", "qkv", state, dtype)
        _layer_norm(model, f"{src}/self_attention/layer_norm", f"{dst}.attn_ln", state, dtype)
        _attention(model, f"{src}/attention", f"{dst}.cross_attn", "q_kv", state, dtype)
        _layer_norm(model, f"{src}/attention/layer_norm", f"{dst}.cross_attn_ln", state, dtype)
        _linear(model, f"{src}/ffn/linear_0", f"{dst}.mlp.0", state, dtype)
        _linear(model, f"{src}/ffn/linear_1", f"{dst}.mlp.2", state, dtype)
        _layer_norm(model, f"{src}/ffn/layer_norm", f"{dst}.mlp_ln", state, dtype)
    _layer_norm(model, "decoder/layer_norm", "decoder.ln", state, dtype)
    return {"dims": dims, "model_state_dict": state}
