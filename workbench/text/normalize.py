"""Composable text transforms, applied identically to references and hypotheses.

A normalizer is a tuple of named steps; ``build_normalizer(["width", "lower", ...])`` composes
them in order. The default chain (DESIGN.md §7): full/half width folding, traditional→simplified
Chinese (Whisper base often writes traditional characters for Mandarin audio, which would double
CER for nothing), Whisper's basic normalizer (lower case, brackets and symbols removed, diacritics
kept so Vietnamese tones survive), whitespace collapsing.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from whisper.normalizers import BasicTextNormalizer


def fold_width(text: str) -> str:
    """Full-width Latin, digits and punctuation to ASCII (NFKC), keeping CJK as is."""
    return unicodedata.normalize("NFKC", text)


def lower(text: str) -> str:
    return text.lower()


def to_simplified(text: str) -> str:
    import zhconv

    return zhconv.convert(text, "zh-cn")


_PUNCT = re.compile(r"[^\w\s']|_")


def strip_punctuation(text: str) -> str:
    """Punctuation and symbols to spaces; apostrophes inside words are kept (don't, l'amour)."""
    text = _PUNCT.sub(" ", text)
    return re.sub(r"(?<!\w)'|'(?!\w)", " ", text)


_whisper_basic = BasicTextNormalizer(remove_diacritics=False, split_letters=False)


def whisper_basic(text: str) -> str:
    return _whisper_basic(text)


def collapse_spaces(text: str) -> str:
    return " ".join(text.split())


NORMALIZERS: dict[str, Callable[[str], str]] = {
    "width": fold_width,
    "lower": lower,
    "simplified": to_simplified,
    "punctuation": strip_punctuation,
    "whisper_basic": whisper_basic,
    "spaces": collapse_spaces,
}
DEFAULT_STEPS = ("width", "simplified", "whisper_basic", "punctuation", "spaces")


@dataclass(frozen=True)
class Normalizer:
    steps: tuple[str, ...] = DEFAULT_STEPS

    def __call__(self, text: str) -> str:
        for step in self.steps:
            text = NORMALIZERS[step](text)
        return text


def build_normalizer(steps: Sequence[str] = DEFAULT_STEPS) -> Normalizer:
    unknown = [s for s in steps if s not in NORMALIZERS]
    if unknown:
        raise ValueError(f"unknown normalization step(s) {unknown}; known: {sorted(NORMALIZERS)}")
    return Normalizer(tuple(steps))
