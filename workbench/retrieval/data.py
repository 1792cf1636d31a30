"""Retriever training examples: utterances with their transcript and local targets.

Local targets follow the seeds: an annotated hotword of the utterance (seed 000's hotword span,
seed 001's biasing words), else a phrase cropped at random from the transcript (GLCLAP's
first-stage recipe). With fuzzy matching on (seed 001 §2.2.2) the local text is sometimes a
perturbed or partial variant of the hotword, or a context sentence around it.

Examples never carry a hotword of the evaluation sets: RADA clips of the project's vocabulary
include the test hotwords, and training on them would leak the answers.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from workbench.data import read_manifest
from workbench.data.manifest import Utterance
from workbench.errors import InputError
from workbench.text.hotwords import hotword_key


@dataclass(frozen=True)
class RetrievalExample:
    id: str
    text: str
    hotwords: tuple[str, ...]
    hotword_spans: tuple[tuple[int, int], ...]  # character span of each hotword in ``text``
    source: str  # the manifest it came from


# a word character other than Han: what may not touch a Latin hotword ("开meeting讨论" mentions "meeting")
NOT_HAN_WORD = "[^\\W\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]"
_LATIN_EDGE_BEFORE, _LATIN_EDGE_AFTER = f"(?<!{NOT_HAN_WORD})", f"(?!{NOT_HAN_WORD})"


def find_span(text: str, phrase: str) -> tuple[int, int] | None:
    """First case-insensitive occurrence of ``phrase`` in ``text`` on word boundaries (plain
    substring for CJK; a Han character next to a Latin phrase is a boundary: "开meeting讨论"),
    as a character span."""
    if not phrase:
        return None
    pattern = re.escape(phrase)
    if phrase[0].isalnum() and phrase[0].isascii():
        pattern = _LATIN_EDGE_BEFORE + pattern
    if phrase[-1].isalnum() and phrase[-1].isascii():
        pattern = pattern + _LATIN_EDGE_AFTER
    match = re.search(pattern, text, flags=re.IGNORECASE)
    return (match.start(), match.end()) if match else None


def examples_from(utterances: Iterable[Utterance], source: str,
                  exclude: set[str]) -> tuple[list[RetrievalExample], int]:
    """Examples of ``utterances`` and the number dropped because they mention an excluded hotword."""
    out, dropped = [], 0
    for utt in utterances:
        hotwords = tuple(utt.hotwords or ())
        if any(hotword_key(h) in exclude for h in hotwords):
            dropped += 1
            continue
        pairs = [(h, find_span(utt.text, h)) for h in hotwords]
        pairs = [(h, s) for h, s in pairs if s is not None]
        out.append(RetrievalExample(utt.id, utt.text, tuple(h for h, _ in pairs), tuple(s for _, s in pairs), source))
    return out, dropped


def load_examples(manifests: Sequence[Path],
                  exclude_hotwords: set[str]) -> tuple[list[RetrievalExample], dict[str, int]]:
    examples, counts = [], {}
    for path in manifests:
        found, dropped = examples_from(read_manifest(path), str(path), exclude_hotwords)
        ids = {e.id for e in examples}
        clash = [e.id for e in found if e.id in ids]
        if clash:
            raise InputError(f"{path}: utterance ids {clash[:3]} also appear in an earlier training manifest")
        examples.extend(found)
        counts[str(path)] = len(found)
        counts[f"{path}:excluded"] = dropped
    return examples, counts


def crop_phrase(text: str, rng: random.Random, max_words: int = 3) -> tuple[str, tuple[int, int]]:
    """A random run of 1..max_words words (CJK: 2..4 characters) and its span."""
    words = [(m.start(), m.end()) for m in re.finditer(r"\w[\w'-]*", text)]
    if not words:
        return text, (0, len(text))
    first = rng.randrange(len(words))
    last = min(len(words) - 1, first + rng.randrange(max_words))
    start, end = words[first][0], words[last][1]
    if end - start > 6 and all("\u4e00" <= c <= "\u9fff" for c in text[start:end]):
        length = rng.randint(2, 4)
        offset = rng.randrange(0, end - start - length + 1)
        start, end = start + offset, start + offset + length
    return text[start:end], (start, end)
