"""S1 prompt biasing (seed 004 §4): a short context string for Whisper's previous-text prompt.

Whisper treats ``DecodingOptions.prompt`` as the transcript that preceded the audio, so the prompt
is plain text made only of the caller's terms and recent lines joined by separators: no labels, no
``[CONTEXT]`` markup, no language instructions (§4.3 forbids "请用中文识别"-style steering; English
labels such as §4.2's ``Keywords:`` would read as earlier English speech).

Sources in priority order (§4.1): user/room keywords, then recent context (recent keywords, then
recent committed lines), then the system vocabulary. The budget is filled in that order; the text
is laid out in the reverse (lowest priority first) because Whisper keeps only the *last*
``n_text_ctx // 2 - 1`` prompt tokens, so any cut it makes drops the least important part.

Character limits alone do not keep a prompt inside Whisper's window: Chinese runs at about 1.4
tokens per character, so the seed's 600 characters are ~850 tokens. Pass a tokenizer to ``build``
to enforce ``max_tokens`` too, or check the result with ``check_prompt_tokens``.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, fields
from typing import Protocol

WHISPER_MAX_PROMPT_TOKENS = 223  # n_text_ctx (448) // 2 - 1 for every released Whisper model


class _Encoder(Protocol):
    def encode(self, text: str) -> list[int]: ...


@dataclass(frozen=True)
class PromptLimits:
    max_chars: int = 600  # whole prompt, separators included (appendix prompt.max_chars; room: 500)
    max_keywords: int = 30  # user + recent + system keywords together (appendix prompt.max_keywords)
    max_recent_lines: int = 2  # most recent committed lines used (appendix prompt.max_recent_lines)
    max_line_chars: int = 80  # per recent line, its end kept; chosen inside §4.2's 60–120 (no appendix value)
    # chosen: a line cut to fit the remaining budget is dropped if shorter than this (a fragment, not context)
    min_cut_line_chars: int = 8
    max_tokens: int = WHISPER_MAX_PROMPT_TOKENS  # Whisper's window; enforced only when build gets a tokenizer

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"PromptLimits.{f.name} must be a positive integer, got {value!r}")
        if self.min_cut_line_chars > self.max_line_chars:
            raise ValueError(
                f"PromptLimits.min_cut_line_chars ({self.min_cut_line_chars}) "
                f"exceeds max_line_chars ({self.max_line_chars})"
            )


ROOM_LIMITS = PromptLimits(max_chars=500)  # appendix: "prompt.max_chars: 600（room: 500）"
# §4.4 dynamic strengthening ("更多关键词/更长 recent") has no appendix values: the top of §4.2's ranges
STRONG_LIMITS = PromptLimits(max_chars=800, max_keywords=40, max_recent_lines=3, max_line_chars=120)


@dataclass(frozen=True)
class PromptBuildResult:
    prompt: str | None  # what to pass as DecodingOptions.prompt; None (never "") when disabled or empty
    keywords: tuple[str, ...]  # keywords in the prompt, priority order (user, recent, system), verbatim
    recent_lines: tuple[str, ...]  # recent lines as included (possibly cut), oldest first
    dropped_keywords: tuple[str, ...]  # cleaned, de-duplicated keywords a limit left out
    keywords_truncated: bool  # a keyword was left out by max_keywords, max_chars or max_tokens
    recent_truncated: bool  # a selected line was cut or left out (lines older than max_recent_lines don't count)
    strengthened: bool  # built with the builder's strong_limits
    enabled: bool  # False: the kill switch was off
    chars: int  # len(prompt); 0 without a prompt
    tokens: int | None  # Whisper tokens of the prompt, when build was given a tokenizer


def count_prompt_tokens(prompt: str, tokenizer: _Encoder) -> int:
    """Tokens Whisper's decoder sees for ``prompt`` (it encodes ``" " + prompt.strip()``)."""
    return len(tokenizer.encode(" " + prompt.strip()))


def check_prompt_tokens(prompt: str | None, tokenizer: _Encoder, max_tokens: int = WHISPER_MAX_PROMPT_TOKENS) -> int:
    """Return the prompt's token count; raise if Whisper would silently cut it or it is empty.

    Whisper keeps only the last ``max_tokens`` prompt tokens without a warning, and a whitespace
    prompt still conditions decoding on a lone space token.
    """
    if max_tokens <= 0:
        raise ValueError(f"max_tokens must be positive, got {max_tokens}")
    if prompt is None or not prompt.strip():
        raise ValueError("prompt is empty or whitespace; pass prompt=None instead")
    count = count_prompt_tokens(prompt, tokenizer)
    if count > max_tokens:
        raise ValueError(
            f"prompt is {count} tokens, over Whisper's {max_tokens}; "
            f"Whisper would silently drop the first {count - max_tokens}"
        )
    return count


_WHITESPACE = re.compile(r"\s+")
# scripts written without spaces between words: a cut anywhere in them leaves whole characters
_SPACELESS = re.compile("[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")


def _clean(text: str) -> str:
    return _WHITESPACE.sub(" ", text).strip()


def _dedup_key(text: str) -> str:
    """Case-insensitive (and full-width-insensitive) key; the kept spelling is untouched."""
    return unicodedata.normalize("NFKC", text).casefold()


def _in_word(char: str) -> bool:
    return char.isalnum() and not _SPACELESS.match(char)


def _tail(line: str, max_chars: int) -> str:
    """The last ``max_chars`` characters of a line, minus a leading partial word or punctuation.

    Recent context matters most at its end; a Latin term is dropped rather than kept half-cut.
    """
    if len(line) <= max_chars:
        return line
    cut = len(line) - max_chars
    tail = line[cut:]
    if _in_word(line[cut - 1]):
        start = 0
        while start < len(tail) and _in_word(tail[start]):
            start += 1
        tail = tail[start:]
    start = 0
    while start < len(tail) and (tail[start].isspace() or unicodedata.category(tail[start]).startswith("P")):
        start += 1
    return tail[start:].rstrip()


def _strings(name: str, items: Iterable[str]) -> list[str]:
    if isinstance(items, str):
        raise TypeError(f"{name} must be an iterable of strings, not a single string")
    out = []
    for item in items:
        if not isinstance(item, str):
            raise TypeError(f"{name} must contain strings, got {type(item).__name__}")
        out.append(_clean(item))
    return out


@dataclass(frozen=True)
class PromptBuilder:
    limits: PromptLimits = PromptLimits()  # default prompt (§4.4: every utterance)
    strong_limits: PromptLimits = STRONG_LIMITS  # build(strengthen=True): short or low-confidence utterances
    enabled: bool = True  # kill switch (§4.4 兜底): False makes build return None
    # between keywords; script-neutral because the input language is not fixed (§4.3); "、" suits a Chinese-only room
    keyword_separator: str = ", "
    section_separator: str = " "  # between the keyword groups and each recent line

    def __post_init__(self) -> None:
        for name in ("limits", "strong_limits"):
            if not isinstance(getattr(self, name), PromptLimits):
                raise TypeError(f"PromptBuilder.{name} must be a PromptLimits")
        if not self.keyword_separator.strip():
            raise ValueError("keyword_separator must contain a visible character, or keywords run together")
        if not self.section_separator:
            raise ValueError("section_separator must not be empty")

    def build(self, *args, **kwargs) -> str | None:
        """``build_result(...).prompt``: the prompt for ``DecodingOptions.prompt``, or None when
        there is nothing to pass."""
        return self.build_result(*args, **kwargs).prompt

    def build_result(
        self,
        keywords: Iterable[str] = (),
        recent_lines: Iterable[str] = (),
        system_vocabulary: Iterable[str] = (),
        recent_keywords: Iterable[str] = (),
        *,
        strengthen: bool = False,
        tokenizer: _Encoder | None = None,
    ) -> PromptBuildResult:
        """Fill the budget in priority order and record what was used and cut, for traces.

        ``keywords``: user/room terms; ``recent_keywords``: terms taken from the recent context;
        ``system_vocabulary``: the small default list; each in its own priority order. Keywords are
        de-duplicated across sources (first, highest-priority spelling kept) and never altered
        beyond collapsing whitespace. A keyword that does not fit is skipped whole, never cut.
        ``recent_lines``: committed text, most recent last; the last ``max_recent_lines`` are used,
        each cut to its end. ``tokenizer`` (openai-whisper's) also enforces ``max_tokens``.
        """
        if not self.enabled:  # checked first: the switch must bypass even malformed inputs
            return PromptBuildResult(
                prompt=None, keywords=(), recent_lines=(), dropped_keywords=(), keywords_truncated=False,
                recent_truncated=False, strengthened=strengthen, enabled=False, chars=0, tokens=None,
            )
        groups: dict[str, list[str]] = {"user": [], "recent": [], "lines": [], "system": []}
        user = _strings("keywords", keywords)
        recent = _strings("recent_keywords", recent_keywords)
        system = _strings("system_vocabulary", system_vocabulary)
        lines = [line for line in _strings("recent_lines", recent_lines) if line]
        limits = self.strong_limits if strengthen else self.limits

        def render(parts: dict[str, list[str]]) -> str:
            # lowest priority first: Whisper keeps the end of an over-long prompt
            sections = [self.keyword_separator.join(parts["system"]), *parts["lines"]]
            sections.append(self.keyword_separator.join(parts["recent"] + parts["user"]))
            return self.section_separator.join(s for s in sections if s)

        def fits(parts: dict[str, list[str]]) -> bool:
            text = render(parts)
            if len(text) > limits.max_chars:
                return False
            return tokenizer is None or count_prompt_tokens(text, tokenizer) <= limits.max_tokens

        seen: set[str] = set()
        used: list[str] = []
        dropped: list[str] = []

        def add_keywords(group: str, candidates: list[str]) -> None:
            for keyword in candidates:
                key = _dedup_key(keyword)
                if not keyword or key in seen:
                    continue
                seen.add(key)
                if len(used) >= limits.max_keywords or len(keyword) > limits.max_chars:
                    dropped.append(keyword)
                    continue
                groups[group].append(keyword)
                if fits(groups):
                    used.append(keyword)
                else:
                    groups[group].pop()
                    dropped.append(keyword)

        add_keywords("user", user)
        add_keywords("recent", recent)

        recent_truncated = False
        for line in reversed(lines[-limits.max_recent_lines :]):  # newest first: it gets the budget first
            text = _tail(line, limits.max_line_chars)
            recent_truncated |= text != line
            groups["lines"].insert(0, text)
            if text and fits(groups):
                continue
            # keep the longest end of the line that still fits, if it is more than a fragment
            low, high, best = limits.min_cut_line_chars, len(text), ""
            while low <= high:
                middle = (low + high) // 2
                groups["lines"][0] = _tail(text, middle)
                if fits(groups):
                    best, low = groups["lines"][0], middle + 1
                else:
                    high = middle - 1
            recent_truncated = True
            if len(best) >= limits.min_cut_line_chars:
                groups["lines"][0] = best
            else:
                groups["lines"].pop(0)

        add_keywords("system", system)

        prompt = render(groups) or None
        return PromptBuildResult(
            prompt=prompt,
            keywords=tuple(used),
            recent_lines=tuple(groups["lines"]),
            dropped_keywords=tuple(dropped),
            keywords_truncated=bool(dropped),
            recent_truncated=recent_truncated,
            strengthened=strengthen,
            enabled=True,
            chars=len(prompt or ""),
            tokens=count_prompt_tokens(prompt, tokenizer) if prompt and tokenizer is not None else None,
        )
