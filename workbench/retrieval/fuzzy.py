"""Fuzzy matching augmentation (seed 001 §2.2.2): training text that is not the exact hotword.

A retriever trained only on exact hotword strings learns strict lexical matching, but users say
inflected forms ("Chromebooks"), partial mentions ("Tarkovsky" for "Andrei Tarkovsky"), slips
and the word inside a sentence. So the text side of a training pair is sometimes replaced by:

- ``suffix``: the word and a short random token, or an inflection ("Tongyi abc", "Tongyis");
- ``prefix``: a short random token and the word;
- ``partial``: one word of a multi-word phrase, or a prefix/suffix of ≥ 60% of a long word;
- ``edit``: one character dropped, doubled, or two adjacent ones swapped;
- ``context``: a template sentence containing the word.

Latin, Vietnamese and CJK words each get fitting tokens, separators and templates. Every
function is deterministic in its ``random.Random``; ``word_rng`` derives one per word from the
config's seed so results do not depend on the order words are processed in.
"""

from __future__ import annotations

import hashlib
import math
import random
import unicodedata
from dataclasses import dataclass

from workbench.text import is_cjk

KINDS = ("suffix", "prefix", "partial", "edit", "context")
WORD_SLOT = "{word}"
_VIETNAMESE_LETTERS = set("ăâđêôơưĂÂĐÊÔƠƯ")


@dataclass(frozen=True)
class FuzzyConfig:
    exact_probability: float = 0.5  # share of training texts that keep the exact hotword
    # relative weights of the variant kinds (0 switches a kind off)
    suffix_weight: float = 1.0
    prefix_weight: float = 1.0
    partial_weight: float = 1.0
    edit_weight: float = 1.0
    context_weight: float = 1.0
    inflection_probability: float = 0.5  # a Latin suffix is an inflection ("s", "ing") rather than a token
    inflections: tuple[str, ...] = ("s", "'s", "es", "ed", "ing", "er")
    partial_min_share: float = 0.6  # a partial of a single word keeps at least this share of its characters
    partial_min_chars: int = 3
    partial_min_cjk_chars: int = 2
    latin_token_letters: str = "abcdefghijklmnopqrstuvwxyz"
    vietnamese_tokens: tuple[str, ...] = ("ơi", "nhé", "này", "à", "thì", "ạ", "đó", "kia", "nha", "luôn")
    cjk_token_chars: str = "的一是在不了有和人这中大为上个我以要他时来用们生到作地出就分对成会可"
    templates: tuple[str, ...] = (
        "I heard about {word} today.", "Can you tell me more about {word}?", "We talked about {word} yesterday.",
        "Please add {word} to the list.", "Is {word} available now?",
    )
    vietnamese_templates: tuple[str, ...] = (
        "Hôm nay tôi nghe nói về {word}.", "Bạn biết {word} không?", "Chúng tôi đã nói về {word} hôm qua.",
        "Làm ơn thêm {word} vào danh sách.",
    )
    cjk_templates: tuple[str, ...] = (
        "我今天听说了{word}。", "你知道{word}吗？", "我们昨天讨论了{word}。", "请把{word}加到列表里。",
    )
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0.0 <= self.exact_probability <= 1.0:
            raise ValueError(f"exact_probability must be in [0, 1], got {self.exact_probability}")
        if any(w < 0 for w in self.weights().values()):
            raise ValueError(f"variant weights must be non-negative, got {self.weights()}")
        for name in ("templates", "vietnamese_templates", "cjk_templates"):
            templates = getattr(self, name)
            # a template that is only the slot would give the exact word back
            bad = [t for t in templates if WORD_SLOT not in t or not t.replace(WORD_SLOT, "").strip()]
            if not templates or bad:
                raise ValueError(
                    f"{name}: every template needs a {WORD_SLOT} slot and other text, got {list(templates)}")
        if not 0.0 < self.partial_min_share < 1.0:
            raise ValueError(f"partial_min_share must be in (0, 1), got {self.partial_min_share}")
        if not (self.latin_token_letters and self.vietnamese_tokens and self.cjk_token_chars):
            raise ValueError("random-token pools must not be empty")

    def weights(self) -> dict[str, float]:
        return {kind: getattr(self, f"{kind}_weight") for kind in KINDS}


@dataclass(frozen=True)
class FuzzyVariant:
    text: str
    kind: str  # "exact" or one of KINDS


def script(word: str) -> str:
    """``cjk`` (any CJK character), ``vietnamese`` (letters only Vietnamese uses) or ``latin``."""
    if any(is_cjk(c) for c in word):
        return "cjk"
    nfc = unicodedata.normalize("NFC", word)
    # Latin Extended Additional holds the stacked tone letters (ộ, ắ, ữ, ...)
    if any(c in _VIETNAMESE_LETTERS or "\u1ea0" <= c <= "\u1ef9" for c in nfc):
        return "vietnamese"
    return "latin"


def word_rng(word: str, config: FuzzyConfig, salt: str = "") -> random.Random:
    """A generator for ``word`` alone: the same word gets the same draws in any corpus order."""
    digest = hashlib.sha256(f"{config.seed}\0{salt}\0{word}".encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def _token(word_script: str, rng: random.Random, config: FuzzyConfig) -> str:
    if word_script == "cjk":
        return "".join(rng.choice(config.cjk_token_chars) for _ in range(rng.randint(1, 2)))
    if word_script == "vietnamese":
        return rng.choice(config.vietnamese_tokens)
    return "".join(rng.choice(config.latin_token_letters) for _ in range(rng.randint(2, 4)))


def _suffix(word: str, rng: random.Random, config: FuzzyConfig) -> str | None:
    kind = script(word)
    # inflections only after a letter: "C++ing" is no form anyone says
    if kind == "latin" and word[-1].isalpha() and config.inflections and rng.random() < config.inflection_probability:
        return word + rng.choice(config.inflections)
    return word + ("" if kind == "cjk" else " ") + _token(kind, rng, config)


def _prefix(word: str, rng: random.Random, config: FuzzyConfig) -> str | None:
    kind = script(word)
    return _token(kind, rng, config) + ("" if kind == "cjk" else " ") + word


def _partial(word: str, rng: random.Random, config: FuzzyConfig) -> str | None:
    """One word of a phrase, else a prefix or suffix of a long word; None when too short for either."""
    min_chars = config.partial_min_cjk_chars if script(word) == "cjk" else config.partial_min_chars
    parts = word.split()
    if len(parts) > 1:
        candidates = [p for p in dict.fromkeys(parts) if len(p) >= min_chars]
        return rng.choice(candidates) if candidates else None
    characters = word.strip()  # a CJK "word" is a run of characters: its partials are character runs
    shortest = max(math.ceil(config.partial_min_share * len(characters)), min_chars)
    if shortest > len(characters) - 1:
        return None
    length = rng.randint(shortest, len(characters) - 1)
    return characters[:length] if rng.random() < 0.5 else characters[-length:]


def _edit(word: str, rng: random.Random, config: FuzzyConfig) -> str | None:
    """One drop, doubling or adjacent swap of letters (spaces and punctuation left alone when possible)."""
    text = unicodedata.normalize("NFC", word)
    positions = [i for i, c in enumerate(text) if c.isalnum()] or [i for i, c in enumerate(text) if not c.isspace()]
    if not positions:
        return None
    options = ["double"]
    if len(text.strip()) > 1:
        options.append("drop")
    swaps = [i for i in positions if i + 1 < len(text) and (i + 1) in positions and text[i] != text[i + 1]]
    if swaps:
        options.append("swap")
    operation = rng.choice(options)
    if operation == "swap":
        i = rng.choice(swaps)
        return text[:i] + text[i + 1] + text[i] + text[i + 2 :]
    i = rng.choice(positions)
    if operation == "double":
        return text[: i + 1] + text[i] + text[i + 1 :]
    edited = text[:i] + text[i + 1 :]
    return edited if edited.strip() else None


def _context(word: str, rng: random.Random, config: FuzzyConfig) -> str | None:
    by_script = {"cjk": config.cjk_templates, "vietnamese": config.vietnamese_templates}
    templates = by_script.get(script(word), config.templates)
    return rng.choice(templates).replace(WORD_SLOT, word)


_MAKERS = {"suffix": _suffix, "prefix": _prefix, "partial": _partial, "edit": _edit, "context": _context}


def make_variant(word: str, kind: str, rng: random.Random, config: FuzzyConfig) -> FuzzyVariant | None:
    """A ``kind`` variant of ``word``, or None when the word is too short for it."""
    if kind not in _MAKERS:
        raise ValueError(f"unknown fuzzy variant kind {kind!r}; known: {list(KINDS)}")
    text = _MAKERS[kind](word, rng, config)
    if (text is None or not text.strip() or text == word
            or unicodedata.normalize("NFC", text) == unicodedata.normalize("NFC", word)):
        return None
    return FuzzyVariant(text, kind)


def fuzzy_variants(word: str, rng: random.Random, config: FuzzyConfig = FuzzyConfig()) -> list[FuzzyVariant]:
    """One variant per kind with a positive weight, in ``KINDS`` order; kinds a word is too
    short for (a partial of "AI") are left out."""
    if not word.strip():
        raise ValueError("cannot make variants of an empty hotword")
    weights = config.weights()
    variants = [make_variant(word, kind, rng, config) for kind in KINDS if weights[kind] > 0]
    return [v for v in variants if v is not None]


def sample_training_text(word: str, rng: random.Random, config: FuzzyConfig = FuzzyConfig()) -> FuzzyVariant:
    """The exact word with probability ``exact_probability``, else one weighted-random variant
    (the exact word again when no kind applies)."""
    if not word.strip():
        raise ValueError("cannot sample training text for an empty hotword")
    if rng.random() < config.exact_probability:
        return FuzzyVariant(word, "exact")
    weights = {kind: w for kind, w in config.weights().items() if w > 0}
    while weights:
        kind = rng.choices(list(weights), weights=list(weights.values()))[0]
        variant = make_variant(word, kind, rng, config)
        if variant is not None:
            return variant
        del weights[kind]  # this word is too short for the kind: draw among the others
    return FuzzyVariant(word, "exact")
