"""Options of S1 prompt biasing and S2 rescoring (seed 004), with the defaults of its appendix.

Every value the appendix names is here under the appendix's own key (``prompt.max_chars``,
``rescore.short_cjk``, ``secondary_decode.max_concurrency``, ``audio_cache.ttl_sec``...); a field
the seed leaves open says "chosen" and why. One ``RescoreOptions`` serves both NeedRescore and
the Rescorer, as whisper's ``DecodingOptions`` serves every part of decoding: the appendix groups
the trigger thresholds and the margin under one ``rescore`` key. ``S1S2ReplayConfig`` is the
replay stage's section: systems, conversations and the primary decode around a ``RescoringConfig``.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from workbench.asr.prompt import PromptLimits
from workbench.config.models import WHISPER
from workbench.metrics.options import IntervalConfig, ScoreConfig
from workbench.tracking.options import TrackingConfig

SCENES = ("offline", "room")  # 线下 (two people taking turns) and 会议室 (meeting room)


def _check_positive(owner: object, *names: str) -> None:
    for name in names:
        value = getattr(owner, name)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
            raise ValueError(f"{type(owner).__name__}.{name} must be positive, got {value!r}")


@dataclass(frozen=True)
class PromptOptions:
    """S1 (§4): what goes into Whisper's previous-text prompt and how much of it."""

    enabled: bool = True  # kill switch (§4.4 兜底): False gives every utterance no prompt at all
    max_chars: int = 600  # appendix prompt.max_chars (offline)
    room_max_chars: int = 500  # appendix "room: 500": caps every prompt of the room scene, strong ones too
    max_keywords: int = 30  # appendix prompt.max_keywords
    max_recent_lines: int = 2  # appendix prompt.max_recent_lines
    max_line_chars: int = 80  # chosen inside §4.2's 60–120 (a recent line keeps its end)
    strengthen: bool = True  # §4.4 动态增强: a stronger prompt for short or low-confidence utterances
    # the strong prompt has no appendix values: the top of §4.2's ranges
    strong_max_chars: int = 800
    strong_max_keywords: int = 40
    strong_max_recent_lines: int = 3
    strong_max_line_chars: int = 120
    # chosen: the text is unknown before decoding, so "short" is the audio's duration here; the
    # other trigger of §4.4, low confidence, is the previous commit's quality (§6.1 last_commit_quality)
    short_seconds: float = 2.0
    recent_keywords: int = 10  # chosen: terms extracted from the recent lines (§4.1 2), newest first

    def __post_init__(self) -> None:
        _check_positive(self, *(f.name for f in fields(self) if f.name not in ("enabled", "strengthen")))

    def limits(self, scene: str = "offline", strong: bool = False) -> PromptLimits:
        """The PromptBuilder limits for a scene; raises ValueError for an unknown scene."""
        if scene not in SCENES:
            raise ValueError(f"scene must be one of {SCENES}, got {scene!r}")
        if strong:
            limits = PromptLimits(self.strong_max_chars, self.strong_max_keywords, self.strong_max_recent_lines,
                                  self.strong_max_line_chars)
        else:
            limits = PromptLimits(self.max_chars, self.max_keywords, self.max_recent_lines, self.max_line_chars)
        if scene == "room" and limits.max_chars > self.room_max_chars:
            limits = PromptLimits(self.room_max_chars, limits.max_keywords, limits.max_recent_lines,
                                  min(limits.max_line_chars, self.room_max_chars))
        return limits


@dataclass(frozen=True)
class RescoreOptions:
    """S2 (§5.1 NeedRescore, §5.3–5.4 Rescorer): trigger thresholds, rule points, the margin.

    Rule points are in RuleScore units, the unit of the appendix's ``delta_margin`` (1.5): one
    strong rule (2 points: a user keyword gained, a repetition removed, a number kept) clears the
    margin; context alone (1 point a recent keyword) does not, as §5.3 calls it a weak constraint.
    """

    # --- NeedRescore (§5.1) ---
    short_cjk: int = 18  # appendix rescore.short_cjk: text with CJK under this many tokens is short
    short_en_words: int = 9  # appendix rescore.short_en_words: text without CJK under this many words
    # chosen (twice the short thresholds): from this length on, a commit of good quality never
    # triggers (§5.1 不触发: 文本过长且质量高); between short and long, only risk features trigger
    long_cjk: int = 36
    long_en_words: int = 18
    q_low_offline: float = 0.45  # appendix: quality under this is low (offline scene)
    q_low_room: float = 0.50  # appendix: the same for the room scene
    # §5.1 同音高歧义词: a small maintained list per deployment; empty by default because a generic
    # list either never fires or fires on everyday words
    homophone_risk: tuple[str, ...] = ()
    # chosen: rapidfuzz ratio (0–100) of sound-alike spelling that marks a keyword near-miss
    near_miss_ratio: float = 75.0
    dedup_trim_ratio: float = 0.3  # chosen: dedup removed at least this share of the commit: abnormal (§5.1)
    max_trigger_rate: float = 0.05  # appendix: the cap, as the token bucket's refill per commit
    trigger_burst: float = 2.0  # chosen: bucket capacity; weak-only triggers wait until it is full
    weak_reasons: tuple[str, ...] = ("short_text", "user_keyword")  # chosen: reasons that alone are weak
    remember_commits: int = 4096  # commit ids remembered for idempotence (§5.1 同一 commit 已复核)
    # --- Rescorer (§5.3) ---
    delta_margin: float = 1.5  # appendix: replace the primary only when best − primary ≥ this (§5.4)
    w_rule: float = 1.0  # Score = w_rule·RuleScore + w_ctx·ContextScore + w_hook·hook
    w_ctx: float = 1.0
    w_hook: float = 1.0  # the optional scorer hook (an NMT or LM score); unused without a hook
    keyword_points: float = 2.0  # per distinct user keyword in the candidate (专名保护)
    number_points: float = 2.0  # per number the candidate adds or drops against the primary (数字保护)
    unit_points: float = 1.0  # per unit symbol with no number next to it
    repetition_points: float = 2.0  # per immediate repetition (我们我们, and and)
    script_points: float = 2.0  # × share of letters in unexpected scripts, or in full when the matrix script is missing
    length_points: float = 2.0  # only fillers, or content under min_length_ratio of the primary's
    min_length_ratio: float = 0.5
    context_keyword_points: float = 1.0  # per distinct recent keyword in the candidate (ContextScore)
    context_overlap_points: float = 1.0  # × share of the candidate's terms found in the recent text

    def __post_init__(self) -> None:
        _check_positive(self, "short_cjk", "short_en_words", "long_cjk", "long_en_words", "trigger_burst",
                        "remember_commits", "near_miss_ratio")
        for name in ("q_low_offline", "q_low_room", "max_trigger_rate", "dedup_trim_ratio", "min_length_ratio"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"RescoreOptions.{name} must be in [0, 1], got {value!r}")
        if self.long_cjk < self.short_cjk or self.long_en_words < self.short_en_words:
            raise ValueError("RescoreOptions: long thresholds must not be below the short ones")
        if self.trigger_burst < 1.0:
            raise ValueError(f"RescoreOptions.trigger_burst must be at least 1 (one trigger), got {self.trigger_burst}")
        if self.delta_margin < 0:
            raise ValueError(f"RescoreOptions.delta_margin must not be negative, got {self.delta_margin}")

    def q_low(self, scene: str) -> float:
        if scene not in SCENES:
            raise ValueError(f"scene must be one of {SCENES}, got {scene!r}")
        return self.q_low_room if scene == "room" else self.q_low_offline


@dataclass(frozen=True)
class SecondPassOptions:
    """S2-B (§5.2 B): the second, more conservative decode of a triggered commit's audio."""

    beam_size: int = 8  # chosen: wider than the primary's beam (更大 beam)
    patience: float = 2.0  # chosen: more finished candidates before stopping (更高 patience)
    n_best: int = 5  # candidates kept (§5.2 N=3–5)
    # with the strong S1 prompt (§2.2). Whisper's beam search has no temperature, so the
    # "different temperature" of §5.2 is not a knob here; beam, patience and prompt are
    strengthen_prompt: bool = True
    max_concurrency: int = 1  # appendix secondary_decode.max_concurrency; a request beyond it degrades

    def __post_init__(self) -> None:
        _check_positive(self, "beam_size", "patience", "n_best", "max_concurrency")
        if self.n_best > round(self.beam_size * self.patience):
            raise ValueError(f"SecondPassOptions.n_best={self.n_best} exceeds beam_size * patience")


@dataclass(frozen=True)
class AudioCacheOptions:
    """§6.2: the node's ring buffer of committed audio, read by the second pass."""

    ttl_sec: float = 10.0  # appendix audio_cache.ttl_sec (§6.2: 5–15 s)
    max_seconds: float = 60.0  # chosen: capacity in seconds of audio; the oldest spans go first

    def __post_init__(self) -> None:
        _check_positive(self, "ttl_sec", "max_seconds")


@dataclass(frozen=True)
class RescoringConfig:
    """Everything of seed 004 one deployment needs; nested as the appendix's keys are."""

    scene: str = "offline"  # "offline" or "room": picks rescore.q_low_* and prompt.room_max_chars
    prompt: PromptOptions = PromptOptions()
    rescore: RescoreOptions = RescoreOptions()
    secondary_decode: SecondPassOptions = SecondPassOptions()
    audio_cache: AudioCacheOptions = AudioCacheOptions()

    def __post_init__(self) -> None:
        if self.scene not in SCENES:
            raise ValueError(f"RescoringConfig.scene must be one of {SCENES}, got {self.scene!r}")

    @property
    def q_low(self) -> float:
        return self.rescore.q_low(self.scene)


KEYWORD_MODES = ("conversation", "none")


@dataclass(frozen=True)
class S1S2ReplayConfig:
    """Replay of a manifest as short committed utterances: no-bias / S1 / S1+S2-A / S1+S2-B."""

    model: str = WHISPER  # openai-whisper checkpoint path
    # systems replayed (workbench.rescoring.replay.SYSTEMS); *_uncapped: diagnostics without the trigger cap
    # and the second pass's concurrency limit
    systems: tuple[str, ...] = ("no_bias", "s1", "s1_s2a", "s1_s2b", "s1_s2a_uncapped")
    conversation_size: int = 5  # consecutive manifest utterances per conversation (one session, one state)
    gap_seconds: float = 0.5  # pause after each utterance on the replay's stream clock (audio-cache TTL, overload)
    keywords: str = "conversation"  # room keywords: the conversation's hotwords, or "none"; --keywords FILE overrides
    beam_size: int = 5  # primary decode: beam search whose N-best are the S2-A candidates
    n_best: int = 5  # §5.2 A: N = 3–5
    max_tokens_per_second: float | None = 15.0  # cap on tokens per clip second (+10), against loops
    language: str | None = "manifest"  # "manifest": each utterance's language; null: detect; or a code
    # seed 004's appendix: prompt, rescore, secondary_decode, audio_cache
    rescoring: RescoringConfig = RescoringConfig()
    score: ScoreConfig = ScoreConfig()
    intervals: IntervalConfig = IntervalConfig()  # bootstrap over commits: <system>.<rate>_ci_lo/_ci_hi, ratios.json
    device: str = "cpu"
    threads: int | None = None
    tracking: TrackingConfig = TrackingConfig(experiment="s1s2")

    def __post_init__(self) -> None:
        from workbench.rescoring.replay import SYSTEMS  # the registry lives with the engine that runs it

        unknown = [s for s in self.systems if s not in SYSTEMS]
        if unknown or not self.systems:
            raise ValueError(f"systems: unknown {unknown} (known: {sorted(SYSTEMS)})")
        if self.conversation_size < 1:
            raise ValueError(f"conversation_size must be at least 1, got {self.conversation_size}")
        if self.keywords not in KEYWORD_MODES:
            raise ValueError(f"keywords must be 'conversation' or 'none', got {self.keywords!r}")
