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
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from workbench.metrics.alignment import Alignment, position_mask
from workbench.metrics.result import MetricResult, shared_record


@dataclass(frozen=True, slots=True)
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
        # all phrases one token long (most hotword lists over words): every matching token is one
        # occurrence, found with a set lookup per token instead of a phrase scan
        single = all(len(p) == 1 for group in self.by_first.values() for p in group)
        self.single_tokens = frozenset(self.by_first) if single else None
        self.shortest = min((len(group[-1]) for group in self.by_first.values()), default=0)
        # regexes whose alternatives are longest first: ``finditer`` then scans left to right taking,
        # at each position, the longest phrase that matches there, the same leftmost-longest
        # occurrences as the token scan, at C speed. Over characters given as one string:
        longest_first = sorted((p for group in self.by_first.values() for p in group), key=lambda p: (-len(p), p))
        strings = sorted({"".join(p) for p in longest_first}, key=lambda p: (-len(p), p))
        self.character_regex = re.compile("|".join(map(re.escape, strings)) or "(?!)")
        # and over ``delimited`` token strings (a phrase holding a delimiter never equals tokens of
        # a delimited text: left out)
        strings = [text for text in map(delimited, longest_first) if text is not None]
        self.token_regex = re.compile("|".join(map(re.escape, strings)) or "(?!)")

    def occurrence_mask(self, tokens: Sequence[str]) -> tuple[int, int]:
        """(bit mask of the token positions inside occurrences, number of occurrences)."""
        if isinstance(tokens, str):
            mask = count = 0
            for match in self.character_regex.finditer(tokens):
                start, end = match.span()
                mask |= ((1 << (end - start)) - 1) << start
                count += 1
            return mask, count
        if self.single_tokens is not None:
            flags = bytes(map(self.single_tokens.__contains__, tokens))
            return position_mask(flags), flags.count(1)
        occurrences = find_occurrences(tokens, self)
        mask = 0
        for start, end in occurrences:
            mask |= ((1 << (end - start)) - 1) << start
        return mask, len(occurrences)

    def inserted_phrase_tokens(self, alignment: Alignment) -> int:
        """Inserted tokens that form phrases, each phrase inside one run of contiguous insertions."""
        hypothesis = alignment.hypothesis
        if self.single_tokens is not None and not isinstance(hypothesis, str):
            return sum([hypothesis[position] in self.single_tokens for _gap, position in alignment.inserted])
        if len(alignment.inserted) < self.shortest:
            return 0  # too few inserted tokens to form any phrase
        if isinstance(hypothesis, str) and not self.character_regex.search(hypothesis):
            return 0  # no phrase anywhere in the hypothesis, so none inside an inserted run
        forming = 0
        for start, end in alignment.inserted_runs():
            inserted = hypothesis[start:end]
            # cheap tests before the phrase scan
            if end - start >= self.shortest and any(token in self.by_first for token in inserted):
                forming += sum(end - start for start, end in find_occurrences(inserted, self))
        return forming

    def __bool__(self) -> bool:
        return bool(self.by_first)


def find_occurrences(tokens: Sequence[str], phrases: PhraseIndex | Iterable[Sequence[str]]) -> list[tuple[int, int]]:
    """Leftmost-longest, non-overlapping [start, end) occurrences of any phrase in ``tokens``."""
    index = phrases if isinstance(phrases, PhraseIndex) else PhraseIndex(phrases)
    if not index.by_first:
        return []
    if isinstance(tokens, str):  # characters: every token is one character
        return [m.span() for m in index.character_regex.finditer(tokens)]
    text = delimited(tokens)
    if text is not None:
        found = []
        for match in index.token_regex.finditer(text):
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


def bias_counts(alignment: Alignment, phrases: PhraseIndex | Iterable[Sequence[str]]) -> BiasCounts:
    index = phrases if isinstance(phrases, PhraseIndex) else PhraseIndex(phrases)
    n_ref = len(alignment.reference)
    if not index.by_first:  # no bias list: every error is a U error
        return shared_record(BiasCounts, 0, 0, n_ref, alignment.errors, 0)
    in_bias, occurrences = index.occurrence_mask(alignment.reference)
    bias_errors = (in_bias & alignment.wrong).bit_count()  # substitutions and deletions inside occurrences
    if alignment.inserted:
        bias_errors += index.inserted_phrase_tokens(alignment)
    n_bias = in_bias.bit_count()
    return shared_record(BiasCounts, n_bias, bias_errors, n_ref - n_bias, alignment.errors - bias_errors, occurrences)


def corpus_bias(counts: Iterable[BiasCounts]) -> BiasResult:
    counts = list(counts)
    b_tok = sum([c.bias_tokens for c in counts])
    b_err = sum([c.bias_errors for c in counts])
    u_tok = sum([c.other_tokens for c in counts])
    u_err = sum([c.other_errors for c in counts])
    return BiasResult(
        b_rate=b_err / b_tok if b_tok else float("nan"), u_rate=u_err / u_tok if u_tok else float("nan"),
        bias_tokens=b_tok, bias_errors=b_err, other_tokens=u_tok, other_errors=u_err,
        occurrences=sum([c.occurrences for c in counts]), utterances=len(counts),
    )
