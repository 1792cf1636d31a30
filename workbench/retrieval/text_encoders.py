"""Text towers: all-MiniLM-L6-v2 (pretrained, from the assets stage) or a character/phoneme
encoder trained from scratch (for scripts MiniLM's WordPiece maps to [UNK], e.g. most Han
characters, and for matching by sound rather than by spelling).

Every encoder exposes its *content tokens* (no [CLS]/[SEP]): CLAR's CIF emits acoustic tokens
at this granularity (seed 000 §2.3), so a hotword's token count is its window length and a
transcript's token count is CIF's quantity target.
"""

from __future__ import annotations

import functools
import math
import re
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import torch
from torch import nn

from workbench.errors import ConfigError, MissingInputError


@dataclass(frozen=True)
class TokenBatch:
    ids: torch.Tensor  # [B, L]
    mask: torch.Tensor  # [B, L] True on real tokens (specials included)
    content: torch.Tensor  # [B, L] True on content tokens (what CIF counts)


class TextEncoder(Protocol):
    dim: int

    def tokenize(self, texts: Sequence[str]) -> TokenBatch: ...

    def token_count(self, text: str) -> int: ...

    def token_range(self, text: str, start: int, end: int) -> tuple[int, int]:
        """Content-token indices (first, last) covering characters [start, end) of ``text``."""

    def forward(self, batch: TokenBatch) -> torch.Tensor:
        """Pooled embeddings [B, dim] (masked mean over content tokens)."""


def masked_mean(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    weights = mask.to(hidden.dtype).unsqueeze(-1)
    return (hidden * weights).sum(1) / weights.sum(1).clamp(min=1.0)


class MiniLMEncoder(nn.Module):
    """all-MiniLM-L6-v2 with sentence-transformers' mean pooling; ``trainable_layers`` top
    transformer layers are fine-tuned (0: frozen)."""

    def __init__(self, path: Path | str, trainable_layers: int = 0, max_length: int = 64):
        super().__init__()
        from transformers import AutoModel, AutoTokenizer

        path = Path(path)
        if not (path / "config.json").is_file():
            raise MissingInputError(path / "config.json", "text encoder (run `dvc repro assets` first)")
        self.tokenizer = AutoTokenizer.from_pretrained(str(path))
        self.model = AutoModel.from_pretrained(str(path))
        self.dim = self.model.config.hidden_size
        self.max_length = max_length
        layers = self.model.encoder.layer
        if not 0 <= trainable_layers <= len(layers):
            raise ConfigError(f"text_trainable_layers must be in 0..{len(layers)}, got {trainable_layers}")
        for parameter in self.model.parameters():
            parameter.requires_grad_(False)
        for layer in list(layers)[len(layers) - trainable_layers :]:
            for parameter in layer.parameters():
                parameter.requires_grad_(True)

    @property
    def word_embeddings(self) -> torch.Tensor:
        return self.model.embeddings.word_embeddings.weight

    def tokenize(self, texts: Sequence[str]) -> TokenBatch:
        encoded = self.tokenizer(
            list(texts), padding=True, truncation=True, max_length=self.max_length,
            return_tensors="pt", return_special_tokens_mask=True,
        )
        mask = encoded["attention_mask"].bool()
        return TokenBatch(encoded["input_ids"], mask, mask & ~encoded["special_tokens_mask"].bool())

    @functools.lru_cache(maxsize=200_000)  # noqa: B019  one encoder a process: the cache lives as long as it
    def token_count(self, text: str) -> int:
        return len(self.tokenizer.tokenize(text))

    def token_range(self, text: str, start: int, end: int) -> tuple[int, int]:
        offsets = self.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]
        inside = [i for i, (a, b) in enumerate(offsets) if b > start and a < end]
        if not inside:
            raise ValueError(f"characters {start}..{end} of {text!r} hold no token")
        return inside[0], inside[-1]

    def forward(self, batch: TokenBatch, inputs_embeds: torch.Tensor | None = None) -> torch.Tensor:
        device = self.word_embeddings.device
        if inputs_embeds is not None:
            out = self.model(inputs_embeds=inputs_embeds, attention_mask=batch.mask.to(device).long())
        else:
            out = self.model(input_ids=batch.ids.to(device), attention_mask=batch.mask.to(device).long())
        return masked_mean(out.last_hidden_state, batch.mask.to(device))


_HAN_CHARS = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"  # workbench.text.phonetics reads these with pypinyin
_HAN = re.compile(f"[{_HAN_CHARS}]")
_HAN_PIECE = re.compile(f"[{_HAN_CHARS}]|[^{_HAN_CHARS}]+")


def _phonemes(text: str) -> tuple[str, ...]:
    from workbench.text.phonetics import to_phonemes

    return to_phonemes(text)


class SymbolEncoder(nn.Module):
    """A small Transformer over characters or phonemes, trained from scratch.

    Symbols are hashed (crc32) into ``buckets`` ids, so any script and any hotword of a 100k
    vocabulary has an id without a vocabulary file. ``units="chars"``: every non-space character
    is a token (one per Han character, one per letter); ``units="phonemes"``: the units of
    ``workbench.text.phonetics.to_phonemes`` (ARPAbet, pinyin with tones per Han character,
    Vietnamese; the scheme chosen per token by its script), so the tower matches hotwords by sound.
    """

    PAD, UNK = 0, 1

    def __init__(self, units: str = "chars", dim: int = 256, layers: int = 2, heads: int = 4,
                 buckets: int = 4096, max_length: int = 128):
        super().__init__()
        if units not in ("chars", "phonemes"):
            raise ValueError(f"symbol units must be 'chars' or 'phonemes', got {units!r}")
        self.units, self.dim, self.buckets, self.max_length = units, dim, buckets, max_length
        self.embed = nn.Embedding(buckets + 2, dim, padding_idx=self.PAD)
        self.position = nn.Embedding(max_length, dim)
        layer = nn.TransformerEncoderLayer(dim, heads, 4 * dim, dropout=0.1, batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(dim)

    @functools.lru_cache(maxsize=200_000)  # noqa: B019  one encoder a process: the cache lives as long as it
    def symbols(self, text: str) -> tuple[str, ...]:
        if self.units == "chars":
            return tuple(c for c in text.lower() if not c.isspace())
        return _phonemes(text)

    def _symbol_spans(self, text: str) -> list[tuple[int, int]]:
        """Character span of each symbol (phonemes: the span of the word they came from)."""
        if self.units == "chars":
            return [(i, i + 1) for i, c in enumerate(text) if not c.isspace()]
        spans: list[tuple[int, int]] = []
        position = 0
        for word in text.split():
            start = text.index(word, position)
            position = start + len(word)
            if _HAN.search(word) is None:
                spans.extend([(start, position)] * len(_phonemes(word)))
                continue
            # Han text has no spaces: each character is its own pinyin syllable (its own span)
            for piece in _HAN_PIECE.finditer(word):
                spans.extend([(start + piece.start(), start + piece.end())] * len(_phonemes(piece.group())))
        return spans

    def _id(self, symbol: str) -> int:
        return 2 + zlib.crc32(symbol.encode("utf-8")) % self.buckets

    def tokenize(self, texts: Sequence[str]) -> TokenBatch:
        rows = [[self._id(s) for s in self.symbols(t)][: self.max_length] or [self.UNK] for t in texts]
        width = max(len(r) for r in rows)
        ids = torch.zeros(len(rows), width, dtype=torch.long)
        for i, row in enumerate(rows):
            ids[i, : len(row)] = torch.tensor(row)
        mask = ids != self.PAD
        return TokenBatch(ids, mask, mask)

    def token_count(self, text: str) -> int:
        return min(len(self.symbols(text)), self.max_length)

    def token_range(self, text: str, start: int, end: int) -> tuple[int, int]:
        spans = self._symbol_spans(text)
        inside = [i for i, (a, b) in enumerate(spans) if b > start and a < end]
        if not inside:
            raise ValueError(f"characters {start}..{end} of {text!r} hold no symbol")
        return inside[0], inside[-1]

    def forward(self, batch: TokenBatch, inputs_embeds: torch.Tensor | None = None) -> torch.Tensor:
        device = self.embed.weight.device
        ids, mask = batch.ids.to(device), batch.mask.to(device)
        x = self.embed(ids) if inputs_embeds is None else inputs_embeds
        x = x * math.sqrt(self.dim) + self.position(torch.arange(ids.shape[1], device=device))[None]
        x = self.encoder(x, src_key_padding_mask=~mask)
        return masked_mean(self.norm(x), mask)


def make_text_encoder(kind: str, minilm_path: Path | str, trainable_layers: int = 0,
                      symbol_dim: int = 256, symbol_layers: int = 2) -> nn.Module:
    """``minilm`` (pretrained), ``chars`` or ``phonemes`` (from scratch, ``symbol_*`` sized)."""
    if kind == "minilm":
        return MiniLMEncoder(minilm_path, trainable_layers)
    if kind in ("chars", "phonemes"):
        return SymbolEncoder(kind, dim=symbol_dim, layers=symbol_layers)
    raise ValueError(f"text encoder must be minilm, chars or phonemes, got {kind!r}")
