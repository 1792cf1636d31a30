"""B-WER / U-WER / U-CER (Le et al. 2021, as used in seed 000).

Bias-phrase occurrences are located in the reference tokens leftmost-longest: scanning left to
right, at each position the longest bias phrase that matches there is taken (ties between equal
lengths cannot differ in content) and the scan resumes after it; overlapping phrases are thus
resolved deterministically and a phrase that appears twice counts twice.

    B errors = substitutions + deletions of tokens inside bias occurrences
               + inserted tokens that form a bias phrase (a bias phrase found, leftmost-longest,
                 inside a contiguous run of inserted hypothesis tokens)
    U errors = all other errors
    B-WER = B errors / bias tokens;  U-WER = U errors / other tokens

With character tokens the same function gives B-CER / U-CER.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable, Sequence

from workbench.metrics.alignment import DELETE, INSERT, SUBSTITUTE, Alignment
from workbench.metrics.result import MetricResult


@dataclass(slots=True)
class BiasCounts:
    bias_tokens: int
    bias_errors: int
    other_tokens: int
    other_errors: int
    occurrences: int

    @property
    def b_rate(self) -> float:
        return self.bias_errors / self.bias_tokens if self.bias_tokens else float("nan")

    @property
    def u_rate(self) -> float:
        return self.other_errors / self.other_tokens if self.other_tokens else float("nan")


@dataclass(frozen=True)
class BiasResult(MetricResult):
    b_rate: float
    u_rate: float
    bias_tokens: int
    bias_errors: int
    other_tokens: int
    other_errors: int
    occurrences: int
    utterances: int



_OPEN, _CLOSE = "\x00", "\x01"


def delimited(tokens: Sequence[str]) -> str | None:
    """Tokens as one string, each wrapped in two control characters ("\\x00a\\x01\\x00b\\x01"), so
    phrase occurrences are substring matches found by C code; a token's index is the number of
    "\\x00" before it. None when a token itself holds a delimiter (callers fall back to a token scan).
    """
    text = _OPEN + (_CLOSE + _OPEN).join(tokens) + _CLOSE if tokens else ""
    if text.count(_OPEN) != len(tokens) or text.count(_CLOSE) != len(tokens):
        return None
    return text


class PhraseIndex:
    """Bias phrases (token tuples) indexed by first token, longest first: build once per list."""

    def __init__(self, phrases: Iterable[Sequence[str]]):
        self.by_first: dict[str, list[tuple[str, ...]]] = {}
        for phrase in {tuple(p) for p in phrases if p}:
            self.by_first.setdefault(phrase[0], []).append(phrase)
        for candidates in self.by_first.values():
            candidates.sort(key=lambda p: (-len(p), p))
        self._pattern = None
        self._token_pattern = None

    def character_pattern(self) -> "re.Pattern":
        """For character sequences given as one string: a regex whose alternatives are longest first.

        ``finditer`` then scans left to right taking, at each position, the longest phrase that
        matches there: the same leftmost-longest occurrences as the token scan, at C speed.
        """
        if self._pattern is None:
            strings = sorted({"".join(p) for group in self.by_first.values() for p in group}, key=lambda p: (-len(p), p))
            self._pattern = re.compile("|".join(map(re.escape, strings)))
        return self._pattern

    def token_pattern(self) -> "re.Pattern":
        """The same over ``delimited`` token strings: alternatives with the most tokens first."""
        if self._token_pattern is None:
            phrases = sorted((p for group in self.by_first.values() for p in group), key=lambda p: (-len(p), p))
            # a phrase holding a delimiter never equals tokens of a delimited text: leave it out
            strings = [text for text in map(delimited, phrases) if text is not None]
            self._token_pattern = re.compile("|".join(map(re.escape, strings)) or "(?!)")
        return self._token_pattern

    def __bool__(self) -> bool:
        return bool(self.by_first)


def find_occurrences(tokens: Sequence[str], phrases: "PhraseIndex | Iterable[Sequence[str]]") -> list[tuple[int, int]]:
    """Leftmost-longest, non-overlapping [start, end) occurrences of any phrase in ``tokens``."""
    index = phrases if isinstance(phrases, PhraseIndex) else PhraseIndex(phrases)
    if not index.by_first:
        return []
    if isinstance(tokens, str):  # characters: every token is one character
        return [m.span() for m in index.character_pattern().finditer(tokens)]
    text = delimited(tokens)
    if text is not None:
        found = []
        for match in index.token_pattern().finditer(text):
            start = text.count(_OPEN, 0, match.start())
            found.append((start, start + match.group().count(_OPEN)))
        return found
    found, i, n = [], 0, len(tokens)
    while i < n:
        for phrase in index.by_first.get(tokens[i], ()):
            if len(phrase) == 1 or tuple(tokens[i : i + len(phrase)]) == phrase:
                found.append((i, i + len(phrase)))
                i += len(phrase)
                break
        else:
            i += 1
    return found


def bias_counts(alignment: Alignment, phrases: "PhraseIndex | Iterable[Sequence[str]]") -> BiasCounts:
    phrases = phrases if isinstance(phrases, PhraseIndex) else PhraseIndex(phrases)
    n_ref = len(alignment.reference)
    if not phrases:  # no bias list: every error is a U error
        return BiasCounts(0, 0, n_ref, alignment.errors, 0)
    occurrences = find_occurrences(alignment.reference, phrases)
    in_bias = bytearray(n_ref)  # 1 on tokens inside an occurrence; .count(1) runs in C
    for start, end in occurrences:
        in_bias[start:end] = b"\x01" * (end - start)
    first_tokens = phrases.by_first
    bias_errors = other_errors = 0
    for kind, r1, r2, h1, h2 in alignment.chunks:
        if kind == SUBSTITUTE or kind == DELETE:
            on_bias = in_bias.count(1, r1, r2) if occurrences else 0
            bias_errors += on_bias
            other_errors += (r2 - r1) - on_bias
        elif kind == INSERT:
            inserted = alignment.hypothesis[h1:h2]
            forming = 0
            if any(token in first_tokens for token in inserted):  # cheap test before the phrase scan
                forming = sum(end - start for start, end in find_occurrences(inserted, phrases))
            bias_errors += forming
            other_errors += (h2 - h1) - forming
    n_bias = in_bias.count(1)
    return BiasCounts(n_bias, bias_errors, n_ref - n_bias, other_errors, len(occurrences))


def corpus_bias(counts: Iterable[BiasCounts]) -> BiasResult:
    counts = list(counts)
    b_tok = sum(c.bias_tokens for c in counts)
    b_err = sum(c.bias_errors for c in counts)
    u_tok = sum(c.other_tokens for c in counts)
    u_err = sum(c.other_errors for c in counts)
    return BiasResult(
        b_rate=b_err / b_tok if b_tok else float("nan"), u_rate=u_err / u_tok if u_tok else float("nan"),
        bias_tokens=b_tok, bias_errors=b_err, other_tokens=u_tok, other_errors=u_err,
        occurrences=sum(c.occurrences for c in counts), utterances=len(counts),
    )
