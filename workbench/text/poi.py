"""Points of interest (POIs) of a reference: embedded-language tokens and switch neighbourhoods.

Following PIER (Ugan et al. 2025) and seed 003 §3.1, POIs are the reference tokens of embedded-
language spans, optionally widened by ±k tokens around each span (switch-boundary
neighbourhoods), duplicates merged. The spans come from, in order of precedence:

1. explicit marks in the reference, ``<tag WORD>`` (PIER's format; ``<tag two words>`` tags both),
2. character spans given with the utterance (the manifest's ``spans``),
3. token-level language ID (``workbench.text.lid``): Latin-script tokens in a CJK matrix
   language, English tokens in Vietnamese.

Tokens are mixed-script tokens (CJK characters one each, other scripts by whitespace) of the
normalized text. POI flags are computed on raw tokens and carried through normalization, which
may drop a token (punctuation) or split it ("x-ray" -> "x", "ray": both stay POIs).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Sequence

from workbench.text.lid import token_language
from workbench.text.tokenize import mixed_tokens

_TAG = re.compile(r"<tag\s+([^<>]*?)\s*>")
_RAW_TOKEN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u3040-\u30ff\uac00-\ud7af]|[^\s\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u3040-\u30ff\uac00-\ud7af]+")


@dataclass(frozen=True)
class TaggedTokens:
    """Normalized tokens of a text with a POI flag each."""

    tokens: tuple[str, ...]
    poi: tuple[bool, ...]
    source: str  # "tags" | "spans" | "lid" | "none"

    @property
    def poi_positions(self) -> frozenset[int]:
        return frozenset(i for i, flag in enumerate(self.poi) if flag)


def strip_tags(text: str) -> tuple[str, list[tuple[int, int]]]:
    """Remove ``<tag ...>`` marks; returns the clean text and the character spans they marked."""
    clean, spans, cursor = [], [], 0
    length = 0
    for match in _TAG.finditer(text):
        before = text[cursor : match.start()]
        clean.append(before)
        length += len(before)
        inner = match.group(1)
        spans.append((length, length + len(inner)))
        clean.append(inner)
        length += len(inner)
        cursor = match.end()
    clean.append(text[cursor:])
    return "".join(clean), spans


def has_tags(text: str) -> bool:
    return bool(_TAG.search(text))


def raw_tokens(text: str) -> list[tuple[str, int, int]]:
    """Mixed-script tokens of un-normalized text with their character offsets."""
    return [(m.group(0), m.start(), m.end()) for m in _RAW_TOKEN.finditer(text)]


def normalize_tokens(
    text: str, normalize: Callable[[str], str], flags: Sequence[bool] | None = None
) -> tuple[list[str], list[bool]]:
    """Normalize token by token, keeping each raw token's flag on whatever it becomes."""
    tokens, out_flags = [], []
    for index, (raw, _start, _end) in enumerate(raw_tokens(text)):
        for piece in mixed_tokens(normalize(raw)):
            tokens.append(piece)
            out_flags.append(bool(flags[index]) if flags is not None else False)
    return tokens, out_flags


def widen(flags: Sequence[bool], k: int) -> list[bool]:
    """Add the ±k neighbourhood of every maximal POI span (switch boundaries)."""
    if k <= 0:
        return list(flags)
    out = list(flags)
    n = len(flags)
    for i, flag in enumerate(flags):
        starts = flag and (i == 0 or not flags[i - 1])
        ends = flag and (i == n - 1 or not flags[i + 1])
        if starts:
            for j in range(max(0, i - k), i):
                out[j] = True
        if ends:
            for j in range(i + 1, min(n, i + 1 + k)):
                out[j] = True
    return out


def tag_pois(
    reference: str,
    matrix_language: str,
    normalize: Callable[[str], str],
    spans: Sequence[tuple[int, int]] | None = None,
    neighbourhood: int = 0,
    embedded_language: str = "en",
) -> TaggedTokens:
    """POI flags over the normalized mixed tokens of ``reference`` (see the module docstring)."""
    if has_tags(reference):
        reference, spans = strip_tags(reference)
        source = "tags"
    elif spans:
        source = "spans"
    else:
        source = "lid"
    raw = raw_tokens(reference)
    if source == "lid":
        try:
            flags = [token_language(tok, matrix_language, embedded_language) == embedded_language for tok, _, _ in raw]
        except ValueError:
            flags, source = [False] * len(raw), "none"  # no LID rule for this matrix language
    else:
        flags = [any(start < e and s < end for s, e in spans) for _tok, start, end in raw]
    tokens, token_flags = normalize_tokens(reference, normalize, flags)
    return TaggedTokens(tuple(tokens), tuple(widen(token_flags, neighbourhood)), source)
