"""Sentences with ``{...}`` marks: embedded-language spans or hotwords (data_manifests/default/)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from workbench.errors import InputError
from workbench.text.poi import strip_marks

_MARK = re.compile(r"\{([^{}]+)\}")


class MarkedTextError(InputError):
    """A sentence file line with unbalanced or stray braces."""


@dataclass(frozen=True)
class MarkedSentence:
    text: str  # the sentence without braces
    marks: tuple[tuple[int, int], ...]  # character spans of the marked terms in ``text``

    @property
    def terms(self) -> tuple[str, ...]:
        return tuple(self.text[s:e] for s, e in self.marks)

    def segments(self) -> list[tuple[str, bool]]:
        """(text, is_marked) pieces in order, for speaking each span in its own voice."""
        pieces, cursor = [], 0
        for start, end in self.marks:
            if self.text[cursor:start].strip():
                pieces.append((self.text[cursor:start], False))
            pieces.append((self.text[start:end], True))
            cursor = end
        if self.text[cursor:].strip(" 。，、！？.,!?"):
            pieces.append((self.text[cursor:], False))
        elif pieces and self.text[cursor:].strip():
            # trailing punctuation only: attach it to the last piece so its pause is kept
            text, marked = pieces[-1]
            pieces[-1] = (text + self.text[cursor:], marked)
        return pieces


def parse_marked(line: str, source: str = "<string>", number: int = 0) -> MarkedSentence:
    if line.count("{") != line.count("}") or re.search(r"\{[^}]*\{", line):
        raise MarkedTextError(f"{source}:{number}: unbalanced or nested braces in {line!r}")
    text, marks = strip_marks(line, _MARK)
    sentence = MarkedSentence(text, tuple(marks))
    if "{" in sentence.text or "}" in sentence.text:
        raise MarkedTextError(f"{source}:{number}: stray brace in {line!r}")
    if not sentence.text.strip():
        raise MarkedTextError(f"{source}:{number}: empty sentence")
    return sentence


def read_marked(path: Path | str) -> list[MarkedSentence]:
    path = Path(path)
    lines = path.read_text(encoding="utf-8").splitlines()
    return [parse_marked(line.strip(), str(path), n) for n, line in enumerate(lines, 1) if line.strip()]
