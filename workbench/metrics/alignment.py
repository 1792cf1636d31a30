"""One alignment for every metric: Levenshtein alignment of token sequences.

rapidfuzz computes the edit script (the same edits jiwer's opcodes come from, so counts agree with
jiwer to the last digit); every metric in this package is a thin function over the resulting
``Alignment``. Tokens are whatever the caller's tokenizer produced (words, characters, mixed
CJK/Latin); a string aligns character by character.

An ``Alignment`` keeps what the metrics ask of it in a form they can use without walking the
edit script again: the counts, the substituted or deleted reference positions as a bit mask
(PIER, B-WER and the digit rate intersect it with their own position masks) and the inserted
tokens with the gap each one sits in. The summary comes from the compiled kernel
(``workbench.metrics._kernel.edit_summary``, rapidfuzz's algorithm step for step, held to
rapidfuzz's edit scripts by the tests) or, where the kernel declines (a differing middle part
over 64 tokens), from rapidfuzz's ``Editops``. Chunk tuples ``(kind, ref_start, ref_end,
hyp_start, hyp_end)``, ``kind`` one of ``EQUAL``, ``SUBSTITUTE``, ``DELETE``, ``INSERT``
(rapidfuzz's opcode names), are built only when asked, from rapidfuzz's edit script.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rapidfuzz.distance import Levenshtein

from workbench.metrics.kernel import edit_summary

EQUAL, SUBSTITUTE, DELETE, INSERT = "equal", "replace", "delete", "insert"
Chunk = tuple  # (kind, ref_start, ref_end, hyp_start, hyp_end)
_BIT_CHARS = bytes.maketrans(b"\x00\x01", b"01")


def position_mask(flags: bytes) -> int:
    """A 0/1 flag per position as a bit mask (bit i set where ``flags[i]`` is 1)."""
    return int(flags[::-1].translate(_BIT_CHARS), 2) if flags else 0


@dataclass(slots=True)
class Alignment:
    reference: Sequence[str]
    hypothesis: Sequence[str]
    hits: int
    substitutions: int
    deletions: int
    insertions: int
    errors: int
    wrong: int  # bit mask of the reference positions substituted or deleted
    inserted: tuple  # (gap, hypothesis position) per inserted token; gap g lies before reference token g
    editops: object  # rapidfuzz Editops if ``align`` computed them, else None (``chunks`` asks rapidfuzz)

    @property
    def chunks(self) -> list:
        """Chunk tuples in order (a fresh list on each call), exactly rapidfuzz's opcodes."""
        editops = self.editops if self.editops is not None else Levenshtein.editops(self.reference, self.hypothesis)
        return editops.as_opcodes().as_list()

    @property
    def reference_length(self) -> int:
        return len(self.reference)

    def rate(self, empty_reference: str = "undefined") -> float:
        """Errors per reference token. An empty reference gives 0 with no errors, else inf
        ("undefined") or the error count (``empty_reference="errors"``, jiwer's convention)."""
        if self.reference_length:
            return self.errors / self.reference_length
        return 0.0 if self.errors == 0 else float("inf") if empty_reference == "undefined" else float(self.errors)

    def reference_tags(self) -> list[str]:
        """Per reference token: "C" correct, "S" substituted, "D" deleted."""
        tags = [""] * len(self.reference)
        code = {EQUAL: "C", SUBSTITUTE: "S", DELETE: "D"}
        for kind, r1, r2, _h1, _h2 in self.chunks:
            if kind in code:
                tags[r1:r2] = code[kind] * (r2 - r1)
        return tags

    def inserted_runs(self) -> list[tuple[int, int]]:
        """[start, end) hypothesis ranges of contiguous inserted tokens (rapidfuzz's insert chunks:
        consecutive inserted tokens always share their gap, no reference token lies between them)."""
        runs: list[list[int]] = []
        for _gap, position in self.inserted:
            if runs and runs[-1][1] == position:
                runs[-1][1] = position + 1
            else:
                runs.append([position, position + 1])
        return [(start, end) for start, end in runs]


def align(reference: Sequence[str], hypothesis: Sequence[str]) -> Alignment:
    """Align two token sequences (either may be empty)."""
    if reference == hypothesis:  # an exact transcript: no edit script to compute
        return Alignment(reference, hypothesis, len(reference), 0, 0, 0, 0, 0, (), None)
    if len(reference) == 1 == len(hypothesis):  # two different tokens (CJK text as words): one substitution
        return Alignment(reference, hypothesis, 0, 1, 0, 0, 1, 1, (), None)
    summary = edit_summary(reference, hypothesis)
    if summary is not None:
        substitutions, deletions, wrong, inserted = summary
        errors = substitutions + deletions + len(inserted)
        hits = len(reference) - substitutions - deletions
        return Alignment(reference, hypothesis, hits, substitutions, deletions, len(inserted), errors, wrong,
                         inserted, None)
    editops = Levenshtein.editops(reference, hypothesis)
    substitutions = deletions = wrong = 0
    inserted = []
    for kind, r, h in editops.as_list():
        if kind == INSERT:
            inserted.append((r, h))
        else:
            wrong |= 1 << r
            if kind == SUBSTITUTE:
                substitutions += 1
            else:
                deletions += 1
    errors = substitutions + deletions + len(inserted)
    hits = len(reference) - substitutions - deletions
    return Alignment(
        reference, hypothesis, hits, substitutions, deletions, len(inserted), errors, wrong, tuple(inserted), editops,
    )


# what a rate is when the references hold no token: NaN (undefined, the default) or, as jiwer
# computes it, the error count (the insertions) over one
EMPTY_REFERENCE = ("undefined", "errors")


def empty_safe_rate(errors: int, tokens: int, empty_reference: str = "undefined") -> float:
    """``errors / tokens``; with no tokens NaN ("undefined") or ``errors`` ("errors", jiwer's)."""
    if tokens:
        return errors / tokens
    return float("nan") if empty_reference == "undefined" else float(errors)


def corpus_rate(alignments: Sequence[Alignment], empty_reference: str = "undefined") -> float:
    """Sum of errors over sum of reference tokens (no reference token: see ``empty_safe_rate``)."""
    return empty_safe_rate(sum([a.errors for a in alignments]), sum([len(a.reference) for a in alignments]),
                           empty_reference)
