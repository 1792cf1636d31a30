"""KER and SACC (seed 001), proper-noun hit rate and digit error rate (seed 004 S2).

KER: each annotated keyword of an utterance that does not occur in the hypothesis is one error;
occurrence means the keyword's normalized tokens appear contiguously in the hypothesis tokens.
A keyword annotated n times must occur n times (missing occurrences are errors).
KER = errors / annotated keywords. Proper-noun hit rate = 1 − KER over a list of proper nouns.
SACC: share of utterances whose normalized hypothesis tokens equal the reference tokens.
Digit error rate: substitutions + deletions of reference tokens that contain a digit, over such
tokens (insertions have no reference digit to blame and are not counted).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from workbench.metrics.alignment import Alignment, position_mask
from workbench.metrics.bias import delimited
from workbench.metrics.result import MetricResult, shared_record


@dataclass(frozen=True, slots=True)
class KeywordCounts:
    keywords: int
    missing: int


@dataclass(frozen=True)
class KeywordResult(MetricResult):
    ker: float
    keywords: int
    missing: int
    utterances: int
    utterances_without_keywords: int

    @property
    def hit_rate(self) -> float:
        return 1.0 - self.ker if self.keywords else float("nan")

    def as_metrics(self, prefix: str = "") -> dict[str, float]:
        return {**super().as_metrics(prefix), f"{prefix}hit_rate": self.hit_rate}


def count_occurrences(tokens: Sequence[str], phrase: Sequence[str]) -> int:
    """Non-overlapping occurrences of ``phrase`` in ``tokens``."""
    phrase = tuple(phrase)
    if not phrase:
        return 0
    count, i, n, m = 0, 0, len(tokens), len(phrase)
    while i + m <= n:
        if tuple(tokens[i : i + m]) == phrase:
            count += 1
            i += m
        else:
            i += 1
    return count


class KeywordList:
    """An utterance's annotated keywords (token sequences) counted once per distinct keyword:
    build once per hotword list and reuse it for every utterance that carries the list."""

    __slots__ = ("counts", "total", "single", "phrases")

    def __init__(self, keywords: Iterable[Sequence[str]]):
        wanted: dict[tuple[str, ...], int] = {}
        for keyword in keywords:
            if keyword:
                key = tuple(keyword)
                wanted[key] = wanted.get(key, 0) + 1
        self.counts = tuple(wanted.items())
        self.total = sum(wanted.values())
        self.single = tuple((keyword[0], count) for keyword, count in self.counts if len(keyword) == 1)
        self.phrases = tuple((keyword, count) for keyword, count in self.counts if len(keyword) > 1)


def keyword_counts(hypothesis_tokens: Sequence[str], keywords: Iterable[Sequence[str]] | KeywordList) -> KeywordCounts:
    wanted = keywords if isinstance(keywords, KeywordList) else KeywordList(keywords)
    if not wanted.total:
        return shared_record(KeywordCounts, 0, 0)
    missing = 0
    token_list = isinstance(hypothesis_tokens, (list, tuple))
    if token_list:
        for token, count in wanted.single:  # a one-token keyword occurs as often as its token: counted in C
            missing += max(0, count - hypothesis_tokens.count(token))
    phrases = wanted.phrases if token_list else wanted.counts
    if phrases:
        text = delimited(hypothesis_tokens)
        for keyword, count in phrases:
            pattern = delimited(keyword) if text is not None else None
            # str.count is the same leftmost non-overlapping count as the token scan, in C
            found = text.count(pattern) if pattern is not None else count_occurrences(hypothesis_tokens, keyword)
            missing += max(0, count - found)
    return shared_record(KeywordCounts, wanted.total, missing)


def corpus_keywords(counts: Iterable[KeywordCounts]) -> KeywordResult:
    counts = list(counts)
    total = sum([c.keywords for c in counts])
    missing = sum([c.missing for c in counts])
    return KeywordResult(
        ker=missing / total if total else float("nan"), keywords=total, missing=missing,
        utterances=len(counts), utterances_without_keywords=sum([1 for c in counts if not c.keywords]),
    )


def sentence_accuracy(alignments: Sequence[Alignment]) -> float:
    """SACC: share of utterances with no error at all (NaN for an empty corpus)."""
    return sum([1 for a in alignments if not a.errors]) / len(alignments) if alignments else float("nan")


@dataclass(frozen=True, slots=True)
class DigitCounts:
    digit_tokens: int
    digit_errors: int


_DIGIT = re.compile(r"\d")


def has_digit(text: str) -> bool:
    return not text.isalpha() and _DIGIT.search(text) is not None  # all letters: no digit, no regex


def digit_counts(alignment: Alignment) -> DigitCounts:
    reference = alignment.reference
    if not has_digit(reference if isinstance(reference, str) else "".join(reference)):
        return shared_record(DigitCounts, 0, 0)  # most utterances: no digit, one C-level scan
    digits = position_mask(bytes([has_digit(token) for token in reference]))
    return shared_record(DigitCounts, digits.bit_count(), (digits & alignment.wrong).bit_count())


def digit_error_rate(counts: Iterable[DigitCounts]) -> float:
    counts = list(counts)
    total = sum([c.digit_tokens for c in counts])
    return sum([c.digit_errors for c in counts]) / total if total else float("nan")
