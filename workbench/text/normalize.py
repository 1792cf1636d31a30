"""Composable text transforms, applied identically to references and hypotheses.

A normalizer is a tuple of named steps; ``build_normalizer(["width", "lower", ...])`` composes
them in order. The default chain (DESIGN.md §7, docs/metrics.md): full/half width folding,
traditional→simplified Chinese (Whisper base often writes traditional characters for Mandarin
audio, which would double CER for nothing), the basic normalizer (Whisper's basic normalizer with
in-word apostrophes and decimal points kept: lower case, bracketed spans and symbols removed,
diacritics kept so Vietnamese tones survive), whitespace collapsing.

A chain's meaning is its application to the whole text. Scoring normalizes raw token by raw token
(cached, and so that POI flags follow their tokens), which equals the whole-text result once
``Normalizer.prepare`` has done the parts that need context: bracketed spans are blanked (same
length, so character offsets hold) and whole-text steps (``whisper_english``: numbers, spellings,
contractions across words) run on the whole text.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from whisper.normalizers import BasicTextNormalizer, EnglishTextNormalizer


def fold_width(text: str) -> str:
    """Full-width Latin, digits and punctuation to ASCII (NFKC), keeping CJK as is."""
    return unicodedata.normalize("NFKC", text)


def lower(text: str) -> str:
    return text.lower()


def to_simplified(text: str) -> str:
    import zhconv

    return zhconv.convert(text, "zh-cn")


# kept by "punctuation" and "basic": an apostrophe between word characters (don't, l'amour) and a
# decimal point between digits (3.14, $0.36 -> 0.36)
_KEPT = re.compile(r"(?<=\w)['’](?=\w)|(?<=\d)\.(?=\d)")
_PUNCT = re.compile(r"[^\w\s]|_")


def _kept(match: re.Match) -> str:
    return "." if match.group() == "." else "'"


def _replace_outside_kept(text: str, replace: Callable[[str], str]) -> str:
    """``replace`` applied to the text between kept apostrophes and decimal points."""
    pieces, cursor = [], 0
    for match in _KEPT.finditer(text):
        pieces += [replace(text[cursor : match.start()]), _kept(match)]
        cursor = match.end()
    pieces.append(replace(text[cursor:]))
    return "".join(pieces)


def strip_punctuation(text: str) -> str:
    """Punctuation and symbols to spaces; in-word apostrophes (’ as ') and decimal points are kept."""
    return _replace_outside_kept(text, functools.partial(_PUNCT.sub, " "))


# Whisper's BasicTextNormalizer removes these spans (its regular expressions, in its order)
_BRACKETED = re.compile(r"[<\[][^>\]]*[>\]]")
_PARENTHESIZED = re.compile(r"\(([^)]+?)\)")
_OPENERS = re.compile(r"[<\[(]")
_BRACKET_CHARS = "<[()]>"


def _symbols_to_spaces(text: str) -> str:
    return "".join([" " if unicodedata.category(c)[0] in "MSP" else c for c in text])


def basic(text: str) -> str:
    """Whisper's basic normalizer (diacritics kept) except that in-word apostrophes and decimal
    points survive: "I don't" stays "i don't", "$0.36" becomes "0.36" (Whisper's: "don t", "0 36")."""
    text = _PARENTHESIZED.sub("", _BRACKETED.sub("", text.lower()))
    text = _replace_outside_kept(unicodedata.normalize("NFKC", text), _symbols_to_spaces).lower()
    return re.sub(r"\s+", " ", text)


_whisper_basic = BasicTextNormalizer(remove_diacritics=False, split_letters=False)


def whisper_basic(text: str) -> str:
    """Whisper's basic normalizer exactly (apostrophes and decimal points become spaces)."""
    return _whisper_basic(text)


@functools.cache
def _english() -> EnglishTextNormalizer:
    return EnglishTextNormalizer()  # reads Whisper's spelling table once, on first use


def whisper_english(text: str) -> str:
    """Whisper's English normalizer (numbers, British spellings, contractions, titles); English only."""
    return _english()(text)


def collapse_spaces(text: str) -> str:
    return " ".join(text.split())


NORMALIZERS: dict[str, Callable[[str], str]] = {
    "width": fold_width,
    "lower": lower,
    "simplified": to_simplified,
    "punctuation": strip_punctuation,
    "basic": basic,
    "whisper_basic": whisper_basic,
    "whisper_english": whisper_english,
    "spaces": collapse_spaces,
}
DEFAULT_STEPS = ("width", "simplified", "basic", "spaces")
WHOLE_TEXT_STEPS = frozenset({"whisper_english"})  # need the whole text: no per-token application
BRACKET_STEPS = frozenset({"basic", "whisper_basic"})  # remove bracketed spans that may cross tokens


def blank_brackets(text: str, fold: bool = True) -> str:
    """The spans Whisper's basic normalizer removes ("(um yeah)", "[noise]", "<unk>") as spaces of
    the same length, so character offsets (POI spans) still hold. With ``fold``, brackets are
    recognised after NFKC folding (full-width "（" counts), as in a chain with "width" first."""
    view = unicodedata.normalize("NFKC", text) if fold and not text.isascii() else text
    if not _OPENERS.search(view):
        return text
    if view is not text:  # one character per character of text, brackets folded
        view = "".join([f if (f := unicodedata.normalize("NFKC", c)) in _BRACKET_CHARS else c for c in text])
    chars = list(text)
    for pattern in (_BRACKETED, _PARENTHESIZED):
        spans = [match.span() for match in pattern.finditer(view)]
        for start, end in spans:
            chars[start:end] = " " * (end - start)
            view = view[:start] + " " * (end - start) + view[end:]
    return "".join(chars)


@dataclass(frozen=True)
class Normalizer:
    steps: tuple[str, ...] = DEFAULT_STEPS

    def __call__(self, text: str) -> str:
        for step in self.steps:
            text = NORMALIZERS[step](text)
        return text

    @property
    def whole_text_steps(self) -> tuple[str, ...]:
        """The chain up to its last whole-text step (empty when it has none)."""
        last = max((i for i, step in enumerate(self.steps) if step in WHOLE_TEXT_STEPS), default=-1)
        return self.steps[: last + 1]

    @property
    def keeps_offsets(self) -> bool:
        """True if ``prepare`` keeps character offsets (no whole-text step): POI spans still apply."""
        return not self.whole_text_steps

    @property
    def per_token(self) -> Normalizer:
        """The steps ``prepare`` leaves, to apply raw token by raw token."""
        return Normalizer(self.steps[len(self.whole_text_steps) :])

    def prepare(self, text: str) -> str:
        """The whole-text part of the chain. Normalizing each raw token of the result with
        ``per_token`` and splitting on whitespace gives the words of ``self(text)``, with one
        exception: a bracketed span glued to words on both sides ("a(b)c") leaves a word break
        ("a c"; Whisper's normalizer on the whole text gives "ac")."""
        head = self.whole_text_steps
        for step in head:
            text = NORMALIZERS[step](text)
        tail = self.steps[len(head) :]
        bracket = next((i for i, step in enumerate(tail) if step in BRACKET_STEPS), None)
        if bracket is None:
            return text
        return blank_brackets(text, fold="width" in tail[:bracket])


def build_normalizer(steps: Sequence[str] = DEFAULT_STEPS) -> Normalizer:
    unknown = [s for s in steps if s not in NORMALIZERS]
    if unknown:
        raise ValueError(f"unknown normalization step(s) {unknown}; known: {sorted(NORMALIZERS)}")
    return Normalizer(tuple(steps))
