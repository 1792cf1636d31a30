"""One alignment for every metric: Levenshtein alignment of token sequences.

rapidfuzz computes the edit script (the same call jiwer makes, so counts agree with jiwer to the
last digit); every metric in this package is a thin function over the resulting ``Alignment``.
Tokens are whatever the caller's tokenizer produced (words, characters, mixed CJK/Latin).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from rapidfuzz.distance import Levenshtein

_KINDS = {"equal": "equal", "replace": "substitute", "delete": "delete", "insert": "insert"}


@dataclass(frozen=True)
class Chunk:
    """One edit-script chunk: ``kind`` over ref[ref_start:ref_end] and hyp[hyp_start:hyp_end]."""

    kind: str  # "equal" | "substitute" | "delete" | "insert"
    ref_start: int
    ref_end: int
    hyp_start: int
    hyp_end: int


@dataclass(frozen=True)
class Alignment:
    reference: tuple[str, ...]
    hypothesis: tuple[str, ...]
    hits: int
    substitutions: int
    deletions: int
    insertions: int
    chunks: tuple[Chunk, ...]

    @property
    def errors(self) -> int:
        return self.substitutions + self.deletions + self.insertions

    @property
    def reference_length(self) -> int:
        return len(self.reference)

    def rate(self) -> float:
        """Errors per reference token; an empty reference gives 0 with no errors, else inf."""
        if self.reference_length:
            return self.errors / self.reference_length
        return 0.0 if self.errors == 0 else float("inf")

    def reference_tags(self) -> list[str]:
        """Per reference token: "C" correct, "S" substituted, "D" deleted."""
        tags = [""] * len(self.reference)
        code = {"equal": "C", "substitute": "S", "delete": "D"}
        for chunk in self.chunks:
            if chunk.kind in code:
                for i in range(chunk.ref_start, chunk.ref_end):
                    tags[i] = code[chunk.kind]
        return tags

    def insertion_gaps(self) -> list[tuple[int, int, int]]:
        """Insertions as (gap, hyp_start, hyp_end): gap g sits between reference tokens g-1 and g."""
        return [(c.ref_start, c.hyp_start, c.hyp_end) for c in self.chunks if c.kind == "insert"]

    def pairs(self) -> list[tuple[str | None, str | None]]:
        """The alignment as (ref token or None, hyp token or None) pairs, in order."""
        out: list[tuple[str | None, str | None]] = []
        for c in self.chunks:
            if c.kind in ("equal", "substitute"):
                out.extend(zip(self.reference[c.ref_start : c.ref_end], self.hypothesis[c.hyp_start : c.hyp_end]))
            elif c.kind == "delete":
                out.extend((r, None) for r in self.reference[c.ref_start : c.ref_end])
            else:
                out.extend((None, h) for h in self.hypothesis[c.hyp_start : c.hyp_end])
        return out


def align(reference: Sequence[str], hypothesis: Sequence[str]) -> Alignment:
    """Align two token sequences (either may be empty)."""
    reference, hypothesis = tuple(reference), tuple(hypothesis)
    hits = subs = dels = ins = 0
    chunks = []
    for tag, i1, i2, j1, j2 in Levenshtein.opcodes(reference, hypothesis):
        chunks.append(Chunk(_KINDS[tag], i1, i2, j1, j2))
        if tag == "equal":
            hits += i2 - i1
        elif tag == "replace":
            subs += i2 - i1
        elif tag == "delete":
            dels += i2 - i1
        else:
            ins += j2 - j1
    return Alignment(reference, hypothesis, hits, subs, dels, ins, tuple(chunks))


def corpus_rate(alignments: Sequence[Alignment]) -> float:
    """Sum of errors over sum of reference tokens (NaN when there are no reference tokens)."""
    total = sum(a.reference_length for a in alignments)
    return sum(a.errors for a in alignments) / total if total else float("nan")
