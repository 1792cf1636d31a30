"""NeedRescore (§5.1): should a committed text block get a second look?

Reasons (any one can trigger): ``short_text`` (CJK text under ``short_cjk`` tokens, other text
under ``short_en_words`` words), ``low_quality`` (quality under q_low), the high-risk features
``number`` (digits, money, units, times), ``user_keyword`` (a room keyword is in the text),
``keyword_near_miss`` (a room keyword is not, but something spelled or sounding like it is),
``homophone_risk`` (a word of the maintained risk list), and ``dedup_trim`` (the aggregator's
dedup cut an abnormal share of the commit: boundary jitter).

Exclusions (strong, §5.1 不触发): a long commit of good quality never triggers; a commit id
already decided never triggers again (idempotent: the repeat returns ``already_decided``).

The global cap (``max_trigger_rate``) is a token bucket over commits: each new commit adds
``max_trigger_rate`` tokens, up to ``trigger_burst``; a trigger spends one token. The bucket
starts empty, so after n commits at most ``max_trigger_rate · n`` have triggered, at every point
of the stream, not just on average. A commit whose only reasons are weak (``weak_reasons``:
by default short text and a keyword already present) waits for a full bucket, so that strong
reasons (low quality, numbers, near-misses...) find a token when they come: with the appendix
thresholds most short utterances are "short", and the cap would otherwise go to whichever short
commit comes first. A capped commit is reported with ``excluded="rate_cap"`` and its reasons.
"""

from __future__ import annotations

import collections
import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass

from workbench.metrics.keywords import count_occurrences
from workbench.rescoring.audio_cache import AudioRef
from workbench.rescoring.features import analyse, keyword_hits, keyword_near_misses, phrase_tokens
from workbench.rescoring.options import RescoreOptions

REASONS = ("short_text", "low_quality", "number", "user_keyword", "keyword_near_miss", "homophone_risk", "dedup_trim")


def quality_from_logprob(avg_logprob: float) -> float:
    """Quality in [0, 1] of a Whisper hypothesis: its per-token geometric mean probability
    (q_low 0.45 is an average log-prob of −0.80, 0.50 of −0.69)."""
    return math.exp(min(0.0, avg_logprob))


@dataclass(frozen=True)
class Commit:
    """A text block the aggregator committed (the unit S2 works on)."""

    commit_id: str
    text: str
    quality: float | None = None  # [0, 1], e.g. quality_from_logprob; None: unknown (the rule is skipped)
    session_id: str = ""
    language: str | None = None  # the decoder's language for the block, when known
    dedup_trimmed_chars: int = 0  # characters the aggregator's dedup removed from this block
    audio: AudioRef | None = None  # where its audio is cached, for the second pass


@dataclass(frozen=True)
class RescoreDecision:
    commit_id: str
    trigger: bool
    reasons: tuple[str, ...]  # the features found, also when not triggered (what would have triggered)
    excluded: str | None  # None when triggered; "no_reason", "long_high_quality", "rate_cap" or "already_decided"
    length: int  # CJK characters + other words
    quality: float | None

    def to_json(self) -> dict:
        return {"trigger": self.trigger, "reasons": list(self.reasons), "excluded": self.excluded,
                "length": self.length, "quality": self.quality}


class TriggerRateCap:
    """Token bucket: ``rate`` tokens per commit, at most ``burst``; starts empty."""

    def __init__(self, rate: float, burst: float):
        if not 0.0 <= rate <= 1.0 or burst < 1.0:
            raise ValueError(f"rate must be in [0, 1] and burst at least 1, got {rate}, {burst}")
        self.rate, self.burst = rate, burst
        self.tokens = 0.0
        self.commits = 0
        self.triggers = 0

    def observe_commit(self) -> None:
        self.commits += 1
        self.tokens = min(self.burst, self.tokens + self.rate)

    def try_spend(self, weak: bool) -> bool:
        need = self.burst if weak else 1.0
        if self.tokens + 1e-9 < need:  # 20 × 0.05 is 0.9999999999999999 in floats
            return False
        self.tokens = max(0.0, self.tokens - 1.0)
        self.triggers += 1
        return True


class NeedRescore:
    def __init__(self, options: RescoreOptions = RescoreOptions(), scene: str = "offline",
                 cap: TriggerRateCap | None = None):
        self.options = options
        self.q_low = options.q_low(scene)
        self.cap = cap or TriggerRateCap(options.max_trigger_rate, options.trigger_burst)
        self._decided: collections.OrderedDict[str, RescoreDecision] = collections.OrderedDict()
        self._lock = threading.Lock()

    def reasons(self, commit: Commit, user_keywords: Sequence[str] = ()) -> tuple[tuple[str, ...], int, bool]:
        """(reasons, length, long): the §5.1 features of a commit, without deciding."""
        options = self.options
        features = analyse(commit.text)
        short_limit, long_limit = (options.short_cjk, options.long_cjk) if features.has_cjk else (
            options.short_en_words, options.long_en_words)
        reasons = []
        if features.length < short_limit:
            reasons.append("short_text")
        if commit.quality is not None and commit.quality < self.q_low:
            reasons.append("low_quality")
        if features.number_risk:
            reasons.append("number")
        if keyword_hits(features, user_keywords):
            reasons.append("user_keyword")
        if keyword_near_misses(features, user_keywords, options.near_miss_ratio):
            reasons.append("keyword_near_miss")
        if any(count_occurrences(features.tokens, phrase_tokens(w))
               for w in options.homophone_risk if phrase_tokens(w)):
            reasons.append("homophone_risk")
        kept = len(commit.text.strip())
        trimmed = commit.dedup_trimmed_chars
        if trimmed > 0 and trimmed / (trimmed + kept) >= options.dedup_trim_ratio:
            reasons.append("dedup_trim")
        return tuple(reasons), features.length, features.length >= long_limit

    def decide(self, commit: Commit, user_keywords: Sequence[str] = ()) -> RescoreDecision:
        with self._lock:
            earlier = self._decided.get(commit.commit_id)
            if earlier is not None:
                return RescoreDecision(commit.commit_id, False, earlier.reasons, "already_decided", earlier.length,
                                       earlier.quality)
            reasons, length, long = self.reasons(commit, user_keywords)
            self.cap.observe_commit()
            high_quality = commit.quality is None or commit.quality >= self.q_low
            if not reasons:
                excluded = "no_reason"
            elif long and high_quality:
                excluded = "long_high_quality"
            elif not self.cap.try_spend(weak=set(reasons) <= set(self.options.weak_reasons)):
                excluded = "rate_cap"
            else:
                excluded = None
            decision = RescoreDecision(commit.commit_id, excluded is None, reasons, excluded, length, commit.quality)
            self._decided[commit.commit_id] = decision
            while len(self._decided) > self.options.remember_commits:
                self._decided.popitem(last=False)
            return decision
