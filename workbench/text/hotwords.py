"""The one reader of hotword lists (vocabularies, bias lists, keyword lists): one phrase a line.

The rule, the same for every caller and across the lists of one call:

- UTF-8 (a byte-order mark on the first line is allowed); lines are split at ``\\n`` (a trailing
  ``\\r`` goes with the whitespace).
- Whitespace: leading and trailing stripped, inner runs collapsed to one space
  (``"  Bose \\t QuietComfort "`` reads as ``"Bose QuietComfort"``). Nothing else is changed:
  no case folding and no Unicode normalization, since the phrase as written is what TTS speaks
  and what biasing spells.
- Blank lines and comment lines (first non-space character ``#``) are skipped.
- Duplicates: a phrase written again exactly (after the whitespace rule) is collapsed, the first
  occurrence keeping its place; ``HotwordList.duplicates`` counts the collapsed lines. A phrase
  with the same *key* as an earlier one but spelled otherwise (``hotword_key``: case-folded,
  whitespace collapsed, the rule the retrieval metrics match hotwords by) is an error naming both
  lines: the metrics would treat the two as one hotword and which spelling to keep is the
  author's choice.
- A list without any phrase is an error.

Errors are ``VocabularyError``s naming the file and line.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from os import PathLike
from pathlib import Path

from workbench.errors import VocabularyError

__all__ = ["HotwordList", "VocabularyError", "hotword_key", "normalize_phrase", "read_hotword_list",
           "read_hotword_lists"]


def hotword_key(text: str) -> str:
    """Identity of a hotword: case-folded with whitespace runs collapsed (the metrics' rule)."""
    return " ".join(text.casefold().split())


def normalize_phrase(text: str) -> str:
    """A phrase as the lists hold it: stripped, inner whitespace runs collapsed to one space."""
    return " ".join(text.split())


@dataclass(frozen=True)
class HotwordList:
    """The phrases of one or more lists in first-seen order, and how many exact repeats collapsed."""

    phrases: tuple[str, ...]
    duplicates: int = 0


def read_hotword_lists(paths: Iterable[str | PathLike[str]]) -> HotwordList:
    """The phrases of several lists read as one (the module's rule applies across the files)."""
    phrases: list[str] = []
    seen: dict[str, tuple[str, Path, int]] = {}  # key -> (phrase, file, line) of its first occurrence
    duplicates = 0
    for path in map(Path, paths):
        found = 0
        for number, raw in enumerate(path.read_bytes().split(b"\n"), start=1):
            try:
                line = raw.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError as error:
                raise VocabularyError(f"{path}:{number}: not UTF-8 (byte {error.start} of the line)") from None
            phrase = normalize_phrase(line)
            if not phrase or phrase.startswith("#"):
                continue
            found += 1
            key = hotword_key(phrase)
            if key not in seen:
                seen[key] = (phrase, path, number)
                phrases.append(phrase)
                continue
            first, first_path, first_number = seen[key]
            if phrase != first:
                where = f"line {first_number}" if first_path == path else f"{first_path}:{first_number}"
                raise VocabularyError(
                    f"{path}:{number}: duplicate hotword {phrase!r} (same as {where} {first!r} but spelled "
                    "differently; keep one spelling)"
                )
            duplicates += 1
        if not found:
            raise VocabularyError(f"{path}: no hotwords (only blank or comment lines)")
    return HotwordList(tuple(phrases), duplicates)


def read_hotword_list(path: str | PathLike[str]) -> tuple[str, ...]:
    """The phrases of one list, in file order (the module's rule)."""
    return read_hotword_lists([path]).phrases
