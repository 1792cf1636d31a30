"""One alignment for every metric: Levenshtein alignment of token sequences.

rapidfuzz computes the edit script (the same call jiwer makes, so counts agree with jiwer to the
last digit); every metric in this package is a thin function over the resulting ``Alignment``.
Tokens are whatever the caller's tokenizer produced (words, characters, mixed CJK/Latin); a
string aligns character by character.

Chunks are plain tuples ``(kind, ref_start, ref_end, hyp_start, hyp_end)`` with ``kind`` one of
``EQUAL``, ``SUBSTITUTE``, ``DELETE``, ``INSERT`` (rapidfuzz's opcode names): metrics run over
tens of thousands of utterances, and tuples cost a fraction of an object per chunk.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from rapidfuzz.distance import Levenshtein

EQUAL, SUBSTITUTE, DELETE, INSERT = "equal", "replace", "delete", "insert"
Chunk = tuple  # (kind, ref_start, ref_end, hyp_start, hyp_end)


@dataclass(slots=True)
class Alignment:
    reference: Sequence[str]
    hypothesis: Sequence[str]
    hits: int
    substitutions: int
    deletions: int
    insertions: int
    chunks: list  # list of Chunk tuples, in order

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
        code = {EQUAL: "C", SUBSTITUTE: "S", DELETE: "D"}
        for kind, r1, r2, _h1, _h2 in self.chunks:
            if kind in code:
                tags[r1:r2] = code[kind] * (r2 - r1)
        return tags


def align(reference: Sequence[str], hypothesis: Sequence[str]) -> Alignment:
    """Align two token sequences (either may be empty)."""
    chunks = Levenshtein.opcodes(reference, hypothesis).as_list()
    hits = subs = dels = ins = 0
    for kind, r1, r2, h1, h2 in chunks:
        if kind == EQUAL:
            hits += r2 - r1
        elif kind == SUBSTITUTE:
            subs += r2 - r1
        elif kind == DELETE:
            dels += r2 - r1
        else:
            ins += h2 - h1
    return Alignment(reference, hypothesis, hits, subs, dels, ins, chunks)


def corpus_rate(alignments: Sequence[Alignment]) -> float:
    """Sum of errors over sum of reference tokens (NaN when there are no reference tokens)."""
    total = sum(len(a.reference) for a in alignments)
    return sum(a.errors for a in alignments) / total if total else float("nan")
