"""S2 for one deployment: NeedRescore, then candidates (A and/or B), then the Rescorer; one trace per commit.

``RescoringTask.process`` takes a commit, the primary decode's N-best (best first) and the
session's ``ConversationState`` *before* the commit is added to it, and returns a ``CommitTrace``
(§5.4 trace, §6.3 result fields). It does not update the state: the caller commits the final
text, so the next prompt sees what was actually committed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from workbench.rescoring.candidates import (
    SOURCES,
    Candidate,
    HypothesisLike,
    SecondPass,
    SecondPassResult,
    merge_candidates,
    nbest_candidates,
)
from workbench.rescoring.context import ConversationState, PromptChoice
from workbench.rescoring.rescorer import CandidateScore, Rescorer, RescoreResult, ScoringContext
from workbench.rescoring.trigger import Commit, NeedRescore, RescoreDecision


@dataclass(frozen=True)
class CommitTrace:
    commit_id: str
    session_id: str
    decision: RescoreDecision
    primary_text: str
    final_text: str
    applied: bool  # §6.3 rescore_applied: the final text is not the primary
    result: RescoreResult | None  # None when not triggered
    second_pass: SecondPassResult | None  # None when B was not asked
    second_pass_prompt: PromptChoice | None
    latency_ms: float  # added by S2: candidates + rescoring (0 when not triggered)

    @property
    def candidates(self) -> tuple[CandidateScore, ...]:
        return self.result.scores if self.result else ()

    @property
    def best_text(self) -> str:
        return self.result.best.candidate.text if self.result else self.primary_text

    def to_json(self) -> dict:
        return {
            "commit_id": self.commit_id, "session_id": self.session_id,
            "rescore_applied": self.applied, "primary_text": self.primary_text, "best_text": self.best_text,
            "final_text": self.final_text, "rescore_reason": list(self.decision.reasons),
            "rescorer_reason": list(self.result.reasons) if self.result else [],
            "cand_count": len(self.candidates), "delta": round(self.result.delta, 4) if self.result else None,
            "decision": self.decision.to_json(), "candidates": [c.to_json() for c in self.candidates],
            "second_pass": self.second_pass.to_json() if self.second_pass else None,
            "second_pass_prompt": self.second_pass_prompt.to_json() if self.second_pass_prompt else None,
            "latency_ms": round(self.latency_ms, 2),
        }


class RescoringTask:
    def __init__(
        self,
        need: NeedRescore,
        rescorer: Rescorer,
        sources: Sequence[str] = ("nbest",),
        second_pass: SecondPass | None = None,
        n_candidates: int = 5,
        strengthen_second_pass_prompt: bool = True,
        timer: Callable[[], float] = time.perf_counter,
    ):
        unknown = sorted(set(sources) - set(SOURCES))
        if unknown or not sources:
            raise ValueError(f"candidate sources must be among {SOURCES}, got {list(sources)}")
        if "second_pass" in sources and second_pass is None:
            raise ValueError("the second_pass source needs a SecondPass")
        self.need = need
        self.rescorer = rescorer
        self.sources = tuple(sources)
        self.second_pass = second_pass
        self.n_candidates = n_candidates  # §5.2 A: N = 3–5
        self.strengthen_second_pass_prompt = strengthen_second_pass_prompt
        self.timer = timer

    def process(self, commit: Commit, hyps: Sequence[HypothesisLike], state: ConversationState) -> CommitTrace:
        if not hyps:
            raise ValueError(f"{commit.commit_id}: no primary hypothesis")
        primary = nbest_candidates(hyps[:1], "primary")
        decision = self.need.decide(commit, state.user_keywords)
        if not decision.trigger:
            return CommitTrace(commit.commit_id, commit.session_id, decision, primary[0].text, primary[0].text, False,
                               None, None, None, 0.0)
        started = self.timer()
        groups: list[Sequence[Candidate]] = [primary]
        if "nbest" in self.sources:
            groups.append(nbest_candidates(hyps[1 : self.n_candidates], "nbest"))
        second, choice = None, None
        if "second_pass" in self.sources:
            choice = state.prompt(strengthen=self.strengthen_second_pass_prompt)
            key = commit.audio.storage_key if commit.audio else commit.commit_id
            second = self.second_pass.request(key, choice.prompt, commit.language)
            groups.append(second.candidates)
        context = ScoringContext(state.user_keywords, tuple(state.recent_committed_text), state.recent_keywords,
                                 commit.language)
        result = self.rescorer.rescore(merge_candidates(*groups), context)
        latency = (self.timer() - started) * 1000.0
        return CommitTrace(commit.commit_id, commit.session_id, decision, primary[0].text,
                           result.final.candidate.text, result.replaced, result, second, choice, latency)
