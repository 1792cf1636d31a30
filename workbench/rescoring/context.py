"""S1 (§4): a session's conversation state feeding the PromptBuilder (§6.1 AggregatorState).

The state holds the room's user keywords, the last committed lines and the previous commit's
quality; recent keywords are extracted from the lines (§4.1 2). ``prompt`` picks the default or
the strong prompt (§4.4: short audio, or a low-quality previous commit) and falls back to no prompt
when the kill switch is off or building fails, saying which in the returned choice.
"""

from __future__ import annotations

import collections
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from workbench.asr.prompt import PromptBuilder, PromptBuildResult
from workbench.rescoring.audio_cache import AudioRef
from workbench.rescoring.options import PromptOptions
from workbench.text import is_cjk

KeywordExtractor = Callable[[Sequence[str], int], list[str]]  # (recent lines oldest first, limit) -> terms

_LATIN_RUN = re.compile(r"[A-Za-z][A-Za-z0-9.+#&'-]*[A-Za-z0-9+#]|[A-Za-z]")
_SENTENCE_END = re.compile(r"[.!?。！？]\s*$")
_NOT_TERMS = frozenset({"i", "i'm", "i've", "i'll", "i'd", "ok", "okay", "mr", "mrs", "ms", "dr"})


def _terms_of_line(line: str) -> list[str]:
    """Terms of one line, in order: Latin words inside CJK text (code-switched terms, §4.3),
    acronyms and words with digits (GPU, H100), and capitalized words that do not start a sentence
    (proper nouns); consecutive capitalized words stay one term (Harry Potter)."""
    has_cjk = any(is_cjk(c) for c in line)
    terms: list[str] = []
    run: list[str] = []
    previous_end = 0
    for match in _LATIN_RUN.finditer(line):
        word = match.group()
        gap = line[previous_end : match.start()]
        sentence_start = not any(c.isalnum() for c in line[: match.start()]) or bool(_SENTENCE_END.search(gap))
        keep = word.casefold() not in _NOT_TERMS and (
            has_cjk
            or (sum(c.isupper() for c in word) >= 2 and len(word) >= 2)
            or any(c.isdigit() for c in word)
            or (word[0].isupper() and not sentence_start)
        )
        adjacent = run and gap.strip() == ""
        if keep and adjacent:
            run.append(word)
        else:
            if run:
                terms.append(" ".join(run))
            run = [word] if keep else []
        previous_end = match.end()
    if run:
        terms.append(" ".join(run))
    return terms


def extract_recent_keywords(lines: Sequence[str], limit: int) -> list[str]:
    """§4.1 2: terms of the recent committed lines, newest first, de-duplicated (case-insensitive).

    Without word segmentation a Chinese term cannot be cut out of a line, so CJK context reaches
    the prompt through the recent lines themselves; Latin terms are the ones §4.3 keeps verbatim.
    """
    seen, out = set(), []
    for line in reversed(lines):
        for term in _terms_of_line(line):
            key = term.casefold()
            if key not in seen:
                seen.add(key)
                out.append(term)
                if len(out) == limit:
                    return out
    return out


@dataclass(frozen=True)
class PromptChoice:
    prompt: str | None  # for DecodingOptions.prompt; None: no prompt
    strengthened: bool
    why_strengthened: str | None  # "short_audio" or "low_quality_previous"
    fallback: str | None  # why there is no prompt although S1 is on: "disabled", "empty", or the build error
    build: PromptBuildResult | None

    def to_json(self) -> dict:
        build = self.build
        return {
            "chars": len(self.prompt or ""), "tokens": build.tokens if build else None,
            "keywords": len(build.keywords) if build else 0, "recent_lines": len(build.recent_lines) if build else 0,
            "strengthened": self.strengthened, "why_strengthened": self.why_strengthened, "fallback": self.fallback,
            "truncated": bool(build and (build.keywords_truncated or build.recent_truncated)),
        }


class ConversationState:
    """One session's context for S1 and S2 (§6.1: recent_committed_text, recent_keywords,
    last_commit_audio_ref, last_commit_quality), plus the room's user keywords (§4.1 1)."""

    def __init__(
        self,
        session_id: str,
        user_keywords: Sequence[str] = (),
        options: PromptOptions = PromptOptions(),
        scene: str = "offline",
        q_low: float = 0.45,
        system_vocabulary: Sequence[str] = (),
        tokenizer=None,
        extractor: KeywordExtractor = extract_recent_keywords,
    ):
        self.session_id = session_id
        self.user_keywords = tuple(user_keywords)
        self.system_vocabulary = tuple(system_vocabulary)
        self.options = options
        self.q_low = q_low
        self.tokenizer = tokenizer  # openai-whisper's: enforces Whisper's prompt window
        self.extractor = extractor
        self.builder = PromptBuilder(limits=options.limits(scene), strong_limits=options.limits(scene, strong=True),
                                     enabled=options.enabled)
        self.recent_committed_text: collections.deque[str] = collections.deque(
            maxlen=max(options.max_recent_lines, options.strong_max_recent_lines))
        self.last_commit_quality: float | None = None
        self.last_commit_audio_ref: AudioRef | None = None

    @property
    def recent_keywords(self) -> tuple[str, ...]:
        return tuple(self.extractor(list(self.recent_committed_text), self.options.recent_keywords))

    def commit(self, text: str, quality: float | None = None, audio_ref: AudioRef | None = None) -> None:
        """Record the final text of a commit (after rescoring) as the newest recent line."""
        if text.strip():
            self.recent_committed_text.append(text.strip())
        self.last_commit_quality = quality
        self.last_commit_audio_ref = audio_ref

    def prompt(self, duration_sec: float | None = None, *, strengthen: bool | None = None) -> PromptChoice:
        """The prompt for the next utterance. ``strengthen``: force (True/False) the strong prompt;
        None decides by §4.4 (audio shorter than ``short_seconds``, or a previous commit of low quality)."""
        why = None
        if strengthen is None:
            strengthen = False
            if self.options.strengthen:
                if duration_sec is not None and duration_sec < self.options.short_seconds:
                    strengthen, why = True, "short_audio"
                elif self.last_commit_quality is not None and self.last_commit_quality < self.q_low:
                    strengthen, why = True, "low_quality_previous"
        elif strengthen:
            why = "requested"
        if not self.options.enabled:
            return PromptChoice(None, strengthen, why, "disabled", None)
        try:
            build = self.builder.build_result(
                self.user_keywords, list(self.recent_committed_text), self.system_vocabulary, self.recent_keywords,
                strengthen=strengthen, tokenizer=self.tokenizer,
            )
        except ValueError as error:  # §4.4 兜底: a prompt that cannot be built is no prompt, not a failed commit
            return PromptChoice(None, strengthen, why, f"error: {error}", None)
        return PromptChoice(build.prompt, strengthen, why, None if build.prompt else "empty", build)
