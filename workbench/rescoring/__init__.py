"""Seed 004: short-utterance accuracy by S1 prompt biasing and S2 rescoring.

S1 (``context``): a session's ``ConversationState`` (room keywords, recent committed lines,
keywords extracted from them) feeds ``workbench.asr.prompt.PromptBuilder``. S2: ``NeedRescore``
(``trigger``) decides per commit, under a global trigger-rate cap; candidates (``candidates``)
come from the primary's N-best (A) and a conservative second decode of the cached audio (B,
``audio_cache``); the ``Rescorer`` (``rescorer``) keeps the primary unless a candidate leads by a
margin; ``RescoringTask`` (``task``) composes them and returns a trace per commit. ``replay``
replays a manifest through the systems (no bias, S1, S1+S2) and measures them.
"""

from workbench.rescoring.audio_cache import AudioFetch, AudioRef, AudioRingBuffer, ManualClock
from workbench.rescoring.candidates import (
    Candidate,
    SecondPass,
    SecondPassResult,
    merge_candidates,
    nbest_candidates,
    whisper_second_pass,
)
from workbench.rescoring.context import ConversationState, PromptChoice, extract_recent_keywords
from workbench.rescoring.options import (
    AudioCacheOptions,
    PromptOptions,
    RescoreOptions,
    RescoringConfig,
    S1S2ReplayConfig,
    SecondPassOptions,
)
from workbench.rescoring.rescorer import (
    CandidateScore,
    CandidateScorer,
    ContextScore,
    Rescorer,
    RescoreResult,
    Rule,
    ScoringContext,
    default_rules,
)
from workbench.rescoring.task import CommitTrace, RescoringTask
from workbench.rescoring.trigger import Commit, NeedRescore, RescoreDecision, TriggerRateCap, quality_from_logprob

__all__ = [
    "AudioCacheOptions", "AudioFetch", "AudioRef", "AudioRingBuffer", "Candidate", "CandidateScore", "CandidateScorer",
    "Commit", "CommitTrace", "ContextScore", "ConversationState", "ManualClock", "NeedRescore", "PromptChoice",
    "PromptOptions", "RescoreDecision", "RescoreOptions", "RescoreResult", "Rescorer", "RescoringConfig",
    "RescoringTask", "Rule", "S1S2ReplayConfig", "ScoringContext", "SecondPass", "SecondPassOptions",
    "SecondPassResult",
    "TriggerRateCap", "default_rules", "extract_recent_keywords", "merge_candidates", "nbest_candidates",
    "quality_from_logprob", "whisper_second_pass",
]
