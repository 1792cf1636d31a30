"""Points of interest (POIs) of a reference: embedded-language tokens and switch neighbourhoods.

Following PIER (Ugan et al. 2025) and seed 003 §3.1, POIs are the reference tokens of embedded-
language spans, optionally widened by ±k tokens around each span (switch-boundary
neighbourhoods), duplicates merged. The spans come from, in order of precedence:

1. explicit marks in the reference, ``<tag WORD>`` (PIER's format; ``<tag two words>`` tags both),
2. character spans given with the utterance (the manifest's ``spans``),
3. token-level language ID (``workbench.text.lid``): Latin-script tokens in a CJK matrix
   language, English tokens in Vietnamese.

Tokens are mixed-script tokens (CJK characters one each, other scripts by whitespace) of the
normalized text. POI flags are computed on raw tokens and carried through normalization, which
may drop a token (punctuation) or split it ("x-ray" -> "x", "ray": both stay POIs).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from workbench.text.lid import CJK_MATRIX, VIETNAMESE, token_language
from workbench.text.tokenize import mixed_tokens

_TAG = re.compile(r"<tag\s+([^<>]*?)\s*>")
_RAW_TOKEN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u3040-\u30ff\uac00-\ud7af]"
                        r"|[^\s\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u3040-\u30ff\uac00-\ud7af]+")


@dataclass(slots=True)
class TaggedTokens:
    """Normalized tokens of a text with a POI flag each."""

    tokens: Sequence[str]
    poi: Sequence[bool]
    source: str  # "tags" | "spans" | "lid" | "none"

    @property
    def poi_positions(self) -> frozenset[int]:
        return frozenset(i for i, flag in enumerate(self.poi) if flag)


def strip_marks(text: str, pattern: re.Pattern) -> tuple[str, list[tuple[int, int]]]:
    """Replace each match of ``pattern`` by its group 1; returns the clean text and those groups' spans."""
    clean, spans, cursor, length = [], [], 0, 0
    for match in pattern.finditer(text):
        before, inner = text[cursor : match.start()], match.group(1)
        clean += [before, inner]
        spans.append((length + len(before), length + len(before) + len(inner)))
        length += len(before) + len(inner)
        cursor = match.end()
    clean.append(text[cursor:])
    return "".join(clean), spans


def strip_tags(text: str) -> tuple[str, list[tuple[int, int]]]:
    """Remove ``<tag ...>`` marks; returns the clean text and the character spans they marked."""
    return strip_marks(text, _TAG)


def has_tags(text: str) -> bool:
    return bool(_TAG.search(text))


def raw_tokens(text: str) -> list[tuple[str, int, int]]:
    """Mixed-script tokens of un-normalized text with their character offsets."""
    return [(m.group(0), m.start(), m.end()) for m in _RAW_TOKEN.finditer(text)]


@dataclass(slots=True)
class TokenAnalysis:
    """A text's normalized words (WER), mixed tokens (MER/PIER) and the raw token behind each."""

    raw: list  # raw (un-normalized) mixed-script tokens, in order
    words: list  # whitespace words of the normalized text
    mixed: list  # mixed-script tokens of the normalized text
    owner: list  # index into ``raw`` of each mixed token


class TextAnalyzer:
    """Normalizes text raw token by raw token, with caches: a repeated word costs one dict lookup.

    Per-token normalization equals whole-string normalization for character-local transforms (all
    of ``workbench.text.normalize`` except Whisper's removal of bracketed spans that cross tokens),
    and it lets POI flags of raw tokens follow them through normalization.
    """

    _MAX_CACHE = 1_000_000

    def __init__(self, normalize: Callable[[str], str]):
        self.normalize = normalize
        self._tokens: dict[str, tuple[str, tuple[str, ...]]] = {}
        self._words: dict[str, tuple] = {}
        self._languages: dict[tuple[str, str], dict[str, str | None]] = {}
        self._word_flags: dict[tuple[str, str], dict[str, tuple[bool, ...]]] = {}

    def token(self, raw: str) -> tuple[str, tuple[str, ...]]:
        """(normalized text, its mixed tokens) of one raw token."""
        hit = self._tokens.get(raw)
        if hit is None:
            normalized = self.normalize(raw)
            hit = (normalized, tuple(mixed_tokens(normalized)))
            if len(self._tokens) < self._MAX_CACHE:
                self._tokens[raw] = hit
        return hit

    def _word(self, word: str) -> tuple:
        """(normalized words, mixed tokens, raw tokens, mixed-token count per raw token) of a whitespace word."""
        hit = self._words.get(word)
        if hit is None:
            raws = _RAW_TOKEN.findall(word)
            cached = self._tokens.get
            hits = [cached(raw) or self.token(raw) for raw in raws]
            pieces = [token for _normalized, tokens in hits for token in tokens]
            counts = [len(tokens) for _normalized, tokens in hits]
            hit = ("".join([normalized for normalized, _tokens in hits]).split(), pieces, raws, counts)
            if len(self._words) < self._MAX_CACHE:
                self._words[word] = hit
        return hit

    def embedded_flags(self, raws: Sequence[str], matrix: str, embedded: str) -> list[bool]:
        """Per raw token: is it in the embedded language (token-level LID, cached)?"""
        cache = self._languages.setdefault((matrix, embedded), {})
        flags = []
        for raw in raws:
            language = cache.get(raw, cache)
            if language is cache:
                language = cache[raw] = token_language(raw, matrix, embedded)
            flags.append(language == embedded)
        return flags

    def lid_flags(self, text: str, matrix: str, embedded: str) -> list[bool]:
        """Per mixed token of ``text``: is its raw token in the embedded language? (cached per word)

        Equals ``[embedded_flags(analysis.raw)[i] for i in analysis.owner]`` without building the
        raw tokens and owners: a repeated word costs one dict lookup.
        """
        cache = self._word_flags.setdefault((matrix, embedded), {})
        flags: list[bool] = []
        for word in text.split():
            hit = cache.get(word)
            if hit is None:
                _words, _pieces, raws, counts = self._word(word)
                raw_flags = self.embedded_flags(raws, matrix, embedded)
                if all(count == 1 for count in counts):  # one mixed token per raw token (the usual case)
                    hit = tuple(raw_flags)
                else:
                    hit = tuple(flag for flag, count in zip(raw_flags, counts) for _ in range(count))
                if len(cache) < self._MAX_CACHE:
                    cache[word] = hit
            flags += hit
        return flags

    def analyse(self, text: str, with_raw: bool = True) -> TokenAnalysis:
        """``with_raw=False`` skips the raw tokens and owners (a hypothesis needs no POI flags)."""
        raw, words, mixed, owner = [], [], [], []
        if not with_raw:
            for word in text.split():
                hit = self._words.get(word) or self._word(word)
                words += hit[0]
                mixed += hit[1]
            return TokenAnalysis(raw, words, mixed, owner)
        for word in text.split():
            word_words, pieces, raws, counts = self._word(word)
            words.extend(word_words)
            mixed.extend(pieces)
            base = len(raw)
            raw.extend(raws)
            for offset, count in enumerate(counts):
                if count == 1:
                    owner.append(base + offset)
                elif count:
                    owner.extend([base + offset] * count)
        return TokenAnalysis(raw, words, mixed, owner)


def widen(flags: Sequence[bool], k: int) -> list[bool]:
    """Add the ±k neighbourhood of every maximal POI span (switch boundaries)."""
    if k <= 0:
        return list(flags)
    out = list(flags)
    n = len(flags)
    for i, flag in enumerate(flags):
        starts = flag and (i == 0 or not flags[i - 1])
        ends = flag and (i == n - 1 or not flags[i + 1])
        if starts:
            for j in range(max(0, i - k), i):
                out[j] = True
        if ends:
            for j in range(i + 1, min(n, i + 1 + k)):
                out[j] = True
    return out


def tag_pois(
    reference: str,
    matrix_language: str,
    normalize: Callable[[str], str] | TextAnalyzer,
    spans: Sequence[tuple[int, int]] | None = None,
    neighbourhood: int = 0,
    embedded_language: str = "en",
    analysis: TokenAnalysis | None = None,
) -> TaggedTokens:
    """POI flags over the normalized mixed tokens of ``reference`` (see the module docstring).

    ``analysis`` may pass the analysis of an already tag-free reference to avoid redoing it (for
    character spans it must include the raw tokens: ``analyse(text, with_raw=True)``).
    """
    analyzer = normalize if isinstance(normalize, TextAnalyzer) else TextAnalyzer(normalize)
    if has_tags(reference):
        reference, spans = strip_tags(reference)
        source, analysis = "tags", None
    elif spans:
        source = "spans"
    elif matrix_language in CJK_MATRIX or matrix_language in VIETNAMESE:
        source = "lid"
    else:
        source = "none"  # no LID rule for this matrix language, no marks: no POI
    if source == "lid":  # flags straight from the words: no raw tokens or owners needed
        analysis = analysis or analyzer.analyse(reference, with_raw=False)
        flags = analyzer.lid_flags(reference, matrix_language, embedded_language)
    elif source == "none":
        analysis = analysis or analyzer.analyse(reference, with_raw=False)
        return TaggedTokens(analysis.mixed, [False] * len(analysis.mixed), source)
    else:  # raw_tokens(reference) yields the same raw tokens as the analysis, with their offsets
        if analysis is None or (analysis.mixed and not analysis.owner):
            analysis = analyzer.analyse(reference)
        raw_flags = [any(start < e and s < end for s, e in spans) for _tok, start, end in raw_tokens(reference)]
        flags = [raw_flags[i] for i in analysis.owner]
    return TaggedTokens(analysis.mixed, widen(flags, neighbourhood) if neighbourhood else flags, source)


@dataclass(frozen=True)
class PoiSpan:
    """A point of interest as a character span of the (tag-free) reference, for near-miss edits."""

    start: int  # character offsets into the reference
    end: int
    text: str
    category: str  # "embedded": an embedded-language span; "boundary": it widened by ±k tokens
    tokens: tuple[int, int]  # [first, last + 1) over the reference's word tokens (raw_tokens minus punctuation)


_WORD_CHARS = re.compile(r"\w+(?:[-'.]\w+)*")


def word_tokens(text: str) -> list[tuple[str, int, int]]:
    """Raw tokens trimmed to their word characters, punctuation-only tokens dropped:
    "budget。" -> ("budget", s, e); "," -> nothing. Numbers stay (they are never POIs)."""
    out = []
    for token, start, _end in raw_tokens(text):
        match = _WORD_CHARS.search(token)
        if match:
            last = list(_WORD_CHARS.finditer(token))[-1]
            out.append((token[match.start() : last.end()], start + match.start(), start + last.end()))
    return out


def poi_spans(
    reference: str,
    matrix_language: str,
    spans: Sequence[tuple[int, int]] | None = None,
    neighbourhood: int = 0,
    embedded_language: str = "en",
) -> tuple[str, list[PoiSpan]]:
    """The POIs of a reference as character spans (seed 003 §3.1), with the same rules as
    ``tag_pois``: ``<tag>`` marks, else the given character spans, else token-level LID.

    Numbers and punctuation are never POIs. Each maximal run of embedded tokens is one
    "embedded" POI; with ``neighbourhood`` k > 0 it also yields a "boundary" POI widened by k
    word tokens each side (overlapping boundary POIs merged). Returns the tag-free reference and
    its POIs in text order.
    """
    if has_tags(reference):
        reference, spans = strip_tags(reference)
    tokens = word_tokens(reference)
    has_lid = matrix_language in CJK_MATRIX or matrix_language in VIETNAMESE
    flags = []
    for token, start, end in tokens:
        if not any(c.isalpha() for c in token):
            flags.append(False)  # a number is no POI, whatever marks it
        elif spans:
            flags.append(any(start < e and s < end for s, e in spans))
        else:  # no LID rule for this matrix language, no marks: no POI
            flags.append(has_lid and token_language(token, matrix_language, embedded_language) == embedded_language)
    runs, i = [], 0
    while i < len(flags):
        if flags[i]:
            j = i
            while j < len(flags) and flags[j]:
                j += 1
            runs.append((i, j))
            i = j
        else:
            i += 1

    def span(first: int, last: int, category: str) -> PoiSpan:
        start, end = tokens[first][1], tokens[last - 1][2]
        return PoiSpan(start, end, reference[start:end], category, (first, last))

    pois = [span(a, b, "embedded") for a, b in runs]
    if neighbourhood > 0:
        widened: list[list[int]] = []
        for a, b in runs:
            a, b = max(0, a - neighbourhood), min(len(tokens), b + neighbourhood)
            if widened and a <= widened[-1][1]:
                widened[-1][1] = max(widened[-1][1], b)
            else:
                widened.append([a, b])
        pois += [span(a, b, "boundary") for a, b in widened if (a, b) not in runs]
    return reference, sorted(pois, key=lambda p: (p.start, p.end))
