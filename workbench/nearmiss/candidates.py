"""Near-miss candidates (seed 003 §3.1–3.2): POI-local replacements from pluggable sources.

A candidate replaces exactly one POI span of the reference by a replacement string, leaving the
rest of the reference as it is. Sources propose replacements per POI:

- ``nbest``: the part of each N-best hypothesis that aligns to the POI (word-token Levenshtein
  alignment on normalized tokens; insertions next to the POI belong to it, as in PIER);
- ``llm``: replacement strings an LLM suggests from the marked reference and the N-best POI
  candidates (``workbench.nearmiss.llm``);
- ``phonetic``: deterministic sound-alike neighbours (``workbench.text.phonetics``).

The edit type compares the POI's normalized tokens with the replacement's: nothing left is a
deletion, the POI's tokens plus more an insertion, fewer of them a deletion, anything else a
substitution.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from workbench.metrics.alignment import DELETE, INSERT, align
from workbench.text.poi import PoiSpan, word_tokens
from workbench.text.tokenize import mixed_tokens


@dataclass(frozen=True)
class Candidate:
    poi: int  # index into the utterance's POI list
    replacement: str  # replaces the POI's characters in the reference ("" deletes it)
    source: str  # "nbest" | "llm" | "phonetic"
    text: str  # the near-miss transcript
    edit: str  # "sub" | "ins" | "del"


def replace_span(reference: str, poi: PoiSpan, replacement: str) -> str:
    """The reference with one POI replaced; a deletion does not leave a double space behind."""
    before, after = reference[: poi.start], reference[poi.end :]
    if not replacement and before.endswith(" ") and (after.startswith(" ") or not after.strip()):
        before = before.rstrip(" ")
    return before + replacement + after


def _is_subsequence(short: Sequence[str], long: Sequence[str]) -> bool:
    remaining = iter(long)
    return all(token in remaining for token in short)


def edit_type(poi_tokens: Sequence[str], replacement_tokens: Sequence[str]) -> str:
    if not replacement_tokens:
        return "del"
    if len(replacement_tokens) > len(poi_tokens) and _is_subsequence(poi_tokens, replacement_tokens):
        return "ins"
    if len(replacement_tokens) < len(poi_tokens) and _is_subsequence(replacement_tokens, poi_tokens):
        return "del"
    return "sub"


class CandidateBuilder:
    """Turns (POI, replacement, source) into candidates, normalizing like the metrics do."""

    def __init__(self, normalize: Callable[[str], str]):
        self.normalize = normalize

    def tokens(self, text: str) -> list[str]:
        return mixed_tokens(self.normalize(text))

    def build(self, reference: str, pois: Sequence[PoiSpan], index: int, replacement: str, source: str) -> Candidate:
        replacement = " ".join(replacement.split())
        poi = pois[index]
        return Candidate(
            index, replacement, source, replace_span(reference, poi, replacement),
            edit_type(self.tokens(poi.text), self.tokens(replacement)),
        )

    def nbest_segments(self, reference: str, pois: Sequence[PoiSpan], hypothesis: str) -> list[str]:
        """Per POI: the hypothesis's surface text aligned to it ("" where the hypothesis drops it)."""
        ref_words = word_tokens(reference)
        hyp_words = word_tokens(hypothesis)
        alignment = align([self.normalize(w) for w, _s, _e in ref_words],
                          [self.normalize(w) for w, _s, _e in hyp_words])
        segments = []
        for poi in pois:
            first, last = poi.tokens
            covered: list[int] = []
            for kind, r1, r2, h1, h2 in alignment.chunks:
                if kind == INSERT:
                    if first <= r1 <= last:  # inside or right next to the POI: PIER's attribution
                        covered += range(h1, h2)
                elif kind != DELETE and max(r1, first) < min(r2, last):
                    # equal and replace blocks pair tokens one to one: keep the overlap's partners
                    offset = h1 - r1
                    covered += range(max(r1, first) + offset, min(r2, last) + offset)
            if covered:
                start, end = hyp_words[min(covered)][1], hyp_words[max(covered)][2]
                segments.append(hypothesis[start:end])
            else:
                segments.append("")
        return segments


_SPACES = re.compile(r"\s+")


def comparison_key(builder: CandidateBuilder, text: str) -> str:
    """A text's identity for deduplication: normalized, spaces ignored (CJK spacing varies
    between hypotheses). Compute once per text and compare keys."""
    return _SPACES.sub("", builder.normalize(text))
