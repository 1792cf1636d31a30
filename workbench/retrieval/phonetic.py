"""Phonetic baseline retriever: ASR 1-best text -> phonemes -> sliding-window similarity to hotwords.

Pronunciations are ``workbench.text.phonetics.to_phonemes`` units (ARPAbet for English,
pinyin TONE3 syllables for Han characters, Vietnamese onset/rhyme/tone units, one unit per digit
run). A text with no unit at all (only punctuation or symbols, e.g. "#") falls back to its
case-folded non-space characters, one unit each, on both sides.

Each distinct hotword unit is mapped to one character, so a pronunciation is a short string and
rapidfuzz scores all hypothesis×hotword pairs in C++ (``process.cdist``, all cores). The 255 most
frequent units get U+0001..U+00FF and any further ones private-use characters (U+E000.., then
planes 15 and 16): rapidfuzz looks characters below 256 up in an array rather than a hash map,
which measured 2.5x faster than private-use characters only. Hypothesis units that no hotword
has all become U+0000: it can never match, so this is the same as keeping them distinct.
Hotwords with the same pronunciation are scored once.

Score of hotword pronunciation p (m units) against hypothesis h (n units), in [0, 1]:

    sim(x, y) = 2·LCS(x, y) / (|x| + |y|)          (rapidfuzz fuzz.ratio / 100, Indel-normalized)
    m <= n:  S = max over windows w of h of sim(p, w)  (fuzz.partial_ratio / 100)
    m >  n:  S = sim(p, h)                            (the window is the whole hypothesis)

where the windows are every m-unit substring of h plus the shorter prefixes h[:j] and suffixes
h[n-j:] (1 <= j < m), so a hotword cut off at the start or end of the utterance still aligns;
for m == n rapidfuzz also aligns h against the windows of p and keeps the larger score. A
hotword pronounced inside the hypothesis scores 1.0. For m > n plain ``partial_ratio`` would
align the (shorter) hypothesis inside the hotword, so a one-word hypothesis would score 1.0
against every long hotword containing it; the whole-hypothesis rule avoids that. rapidfuzz finds
the optimal window when the shorter string has at most 64 units, and uses a heuristic above.
An empty (or blank) hypothesis scores 0 against every hotword.

Ranking sorts by score, then by longer hotword pronunciation (at equal score a longer match is
more evidence; short hotwords often score 1.0 by chance inside a long hypothesis), then in a
fixed pseudo-random order (CRC-32 of the hotword key). Not by vocabulary position: vocabularies
put gold hotwords first, and letting them win ties inflates recall (measurably so at 100k words).
"""

from __future__ import annotations

import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
from rapidfuzz import fuzz, process

from workbench.errors import VocabularyError
from workbench.retrieval.ranking import top_k
from workbench.retrieval.vocabulary import check_unique
from workbench.text.hotwords import hotword_key
from workbench.text.phonetics import to_phonemes

__all__ = ["PhoneticRetriever", "pronunciation"]

# Unit codes: the fast array range below 256 (0 is the "no hotword has it" code), then
# private-use code points of the BMP and of supplementary planes 15 and 16
_CODE_POINTS = (range(1, 0x100), range(0xE000, 0xF900), range(0xF0000, 0xFFFFE), range(0x100000, 0x10FFFE))
_UNKNOWN = "\x00"


def pronunciation(text: str, language_hint: str | None = None) -> tuple[str, ...]:
    """``to_phonemes`` units, or the case-folded non-space characters when there are none."""
    units = to_phonemes(text, language_hint)
    return units if units else tuple(hotword_key(text).replace(" ", ""))


def _tie_order(words: Sequence[str], lengths: np.ndarray) -> np.ndarray:
    """[V] tie-break key for ``top_k`` (higher wins): longer pronunciation, then CRC-32 of the key."""
    checksums = np.array([zlib.crc32(hotword_key(word).encode()) for word in words], dtype=np.int64)
    order = np.lexsort((checksums, -lengths))
    rank = np.empty(len(words), dtype=np.int64)
    rank[order] = np.arange(len(words))
    return -rank


class _Alphabet:
    """Phoneme unit -> one character, most frequent units first; units outside it -> U+0000."""

    def __init__(self, units: Iterable[str]) -> None:
        ranked = [unit for unit, _ in Counter(units).most_common()]  # ties: first occurrence first
        capacity = sum(len(block) for block in _CODE_POINTS)
        if len(ranked) > capacity:
            raise ValueError(f"{len(ranked)} distinct phoneme units, more than the {capacity} codes available")
        code_points = (c for block in _CODE_POINTS for c in block)
        self.chars = {unit: chr(c) for unit, c in zip(ranked, code_points)}

    def encode(self, units: Sequence[str]) -> str:
        return "".join(self.chars.get(unit, _UNKNOWN) for unit in units)


class PhoneticRetriever:
    """Ranks hotwords by the phonetic sliding-window score of the module docstring.

    ``language_hint`` is passed to ``to_phonemes`` for the hotwords, and for hypotheses that get
    no hint of their own. An empty list or duplicate hotwords (same ``hotword_key``) are a
    VocabularyError.
    """

    def __init__(self, hotwords: Sequence[str], language_hint: str | None = None,
                 progress: Callable[..., Any] | None = None) -> None:
        if not hotwords:
            raise VocabularyError("PhoneticRetriever needs at least one hotword")
        check_unique(hotwords, "hotwords")
        self.words = tuple(hotwords)
        self.language_hint = language_hint
        self.pronunciations = self._pronounce(progress)
        self._alphabet = _Alphabet(unit for units in self.pronunciations for unit in units)
        distinct: dict[str, int] = {}
        self._column = np.array(  # hotword -> its pronunciation's column in the distinct list
            [distinct.setdefault(self._alphabet.encode(units), len(distinct)) for units in self.pronunciations]
        )
        self._encoded = list(distinct)
        self._lengths = np.array([len(encoded) for encoded in self._encoded])
        # the ranking order among equal scores (module docstring); pass it as ``tiebreak`` to
        # ranking.top_k / ranked_words for matrices derived from these scores (slices, fusions)
        self.tie_order = _tie_order(self.words, self._lengths[self._column])

    def _pronounce(self, progress: Callable[..., Any] | None) -> tuple[tuple[str, ...], ...]:
        """Each hotword's phoneme units; ``progress(total, desc, unit)`` (a bar with ``update``)
        shows them (a 100k-word vocabulary takes a few seconds)."""
        if progress is None:
            return tuple(pronunciation(word, self.language_hint) for word in self.words)
        units = []
        with progress(len(self.words), "hotword pronunciations", unit="word") as bar:
            for word in self.words:
                units.append(pronunciation(word, self.language_hint))
                bar.update(1)
        return tuple(units)

    def __len__(self) -> int:
        return len(self.words)

    def score(self, hypotheses: Sequence[str], language_hints: Sequence[str | None] | None = None) -> np.ndarray:
        """[Q, V] float32 scores in [0, 1]; ``language_hints`` is one hint per hypothesis."""
        if language_hints is None:
            language_hints = [self.language_hint] * len(hypotheses)
        if len(language_hints) != len(hypotheses):
            raise ValueError(f"{len(hypotheses)} hypotheses but {len(language_hints)} language hints")
        units = [pronunciation(h, hint) if h.strip() else () for h, hint in zip(hypotheses, language_hints)]
        queries = [self._alphabet.encode(u) for u in units]
        scores = process.cdist(queries, self._encoded, scorer=fuzz.partial_ratio, workers=-1, dtype=np.float32)
        query_lengths = np.array([len(q) for q in queries], dtype=int)
        shortest = query_lengths[query_lengths > 0].min(initial=np.iinfo(int).max)
        longer = np.flatnonzero(self._lengths > shortest)
        if len(longer):  # hotwords longer than some hypothesis: whole-hypothesis ratio
            whole = process.cdist(
                queries, [self._encoded[i] for i in longer], scorer=fuzz.ratio, workers=-1, dtype=np.float32
            )
            use_whole = self._lengths[longer][None, :] > query_lengths[:, None]
            scores[:, longer] = np.where(use_whole, whole, scores[:, longer])
        scores[query_lengths == 0] = 0.0
        return scores[:, self._column] / np.float32(100)

    def rank(
        self, hypotheses: Sequence[str], k: int, language_hints: Sequence[str | None] | None = None
    ) -> list[list[str]]:
        """Top-k hotwords per hypothesis, best first (feeds ``metrics.retrieval.retrieval_at_k``)."""
        indices = top_k(self.score(hypotheses, language_hints), k, tiebreak=self.tie_order)
        return [[self.words[i] for i in row] for row in indices]
