"""One alignment for every metric: Levenshtein alignment of token sequences via jiwer.

Tokens never contain whitespace (they come from ``workbench.text.tokenize``), so joining them
with spaces and letting jiwer split on spaces is lossless; jiwer (rapidfuzz underneath) does the
dynamic programming and gives the edit script.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import jiwer

_IDENTITY = jiwer.Compose([jiwer.ReduceToListOfListOfWords()])


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

    def reference_tags(self) -> list[str]:
        """Per reference token: "C" correct, "S" substituted, "D" deleted."""
        tags = [""] * len(self.reference)
        code = {"equal": "C", "substitute": "S", "delete": "D"}
        for chunk in self.chunks:
            if chunk.kind in code:
                for i in range(chunk.ref_start, chunk.ref_end):
                    tags[i] = code[chunk.kind]
        return tags


def align(reference: Sequence[str], hypothesis: Sequence[str]) -> Alignment:
    """Align two token sequences (either may be empty)."""
    reference, hypothesis = tuple(reference), tuple(hypothesis)
    if not reference or not hypothesis:
        chunks = ()
        if reference:
            chunks = (Chunk("delete", 0, len(reference), 0, 0),)
        elif hypothesis:
            chunks = (Chunk("insert", 0, 0, 0, len(hypothesis)),)
        return Alignment(reference, hypothesis, 0, 0, len(reference), len(hypothesis), chunks)
    out = jiwer.process_words(
        " ".join(reference), " ".join(hypothesis), reference_transform=_IDENTITY, hypothesis_transform=_IDENTITY
    )
    chunks = tuple(
        Chunk(c.type, c.ref_start_idx, c.ref_end_idx, c.hyp_start_idx, c.hyp_end_idx) for c in out.alignments[0]
    )
    return Alignment(reference, hypothesis, out.hits, out.substitutions, out.deletions, out.insertions, chunks)


def corpus_rate(alignments: Sequence[Alignment]) -> float:
    """Sum of errors over sum of reference tokens (NaN when there are no reference tokens)."""
    total = sum(a.reference_length for a in alignments)
    return sum(a.errors for a in alignments) / total if total else float("nan")
