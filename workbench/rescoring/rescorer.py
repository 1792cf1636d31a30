"""Rescorer v1 (§5.3–5.4): pick among the candidates of a triggered commit, or keep the primary.

``Score = w_rule·RuleScore + w_ctx·ContextScore + w_hook·hook``:

- RuleScore, the sum of small rules (each a ``Rule``: a name and signed points): numbers kept
  as the primary has them and no unit without its number (数字保护), user keywords present
  (专名保护), no immediate repetition, letters in the scripts the language allows, not only
  fillers or much shorter than the primary;
- ContextScore: recent keywords in the candidate, and the share of its terms found in the recent
  committed text (a weak consistency signal);
- the hook: any ``CandidateScorer`` (an NMT or LM score), called for two candidates only, the
  primary and its strongest challenger (§5.3: top 2 only, to spare throughput).

The rules never see the reference and do not rewrite text. The primary is replaced only when
the best candidate leads it by at least ``delta_margin`` (§5.4): without rule evidence the
candidates tie, and a tie keeps the primary.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from workbench.rescoring.candidates import Candidate
from workbench.rescoring.features import TextFeatures, analyse, expected_scripts, keyword_hits, phrase_tokens
from workbench.rescoring.options import RescoreOptions
from workbench.text import is_cjk


@dataclass(frozen=True)
class ScoringContext:
    user_keywords: tuple[str, ...] = ()  # the room's terms (§4.1 1)
    recent_lines: tuple[str, ...] = ()  # recent committed text, oldest first
    recent_keywords: tuple[str, ...] = ()  # terms extracted from it
    language: str | None = None  # the decoder's language for the commit: its script is expected


class Rule(Protocol):
    name: str

    def __call__(self, candidate: TextFeatures, primary: TextFeatures, context: ScoringContext) -> float: ...


class CandidateScorer(Protocol):
    """The optional hook: scores for some texts in context (higher is better), in its own units."""

    def __call__(self, texts: Sequence[str], context: ScoringContext) -> Sequence[float]: ...


@dataclass(frozen=True)
class NumberProtection:
    options: RescoreOptions
    name: str = "numbers"

    def __call__(self, candidate: TextFeatures, primary: TextFeatures, context: ScoringContext) -> float:
        # numbers are the primary's unless other evidence outweighs changing them: the N-best's
        # fifteen/fifty alternatives are acoustic coin flips that no text rule can settle
        have, had = Counter(candidate.numbers), Counter(primary.numbers)
        changed = sum(((have - had) + (had - have)).values())
        return -self.options.number_points * changed - self.options.unit_points * candidate.orphan_units


@dataclass(frozen=True)
class KeywordHits:
    options: RescoreOptions
    name: str = "keywords"

    def __call__(self, candidate: TextFeatures, primary: TextFeatures, context: ScoringContext) -> float:
        return self.options.keyword_points * len(keyword_hits(candidate, context.user_keywords))


@dataclass(frozen=True)
class RepetitionPenalty:
    options: RescoreOptions
    name: str = "repetition"

    def __call__(self, candidate: TextFeatures, primary: TextFeatures, context: ScoringContext) -> float:
        return -self.options.repetition_points * candidate.repetitions


@dataclass(frozen=True)
class ScriptPlausibility:
    """Letters in the scripts the language allows (its own and Latin, plus any script of the
    user keywords); a CJK-language candidate without a single CJK letter is a translation, not
    a transcript. A penalty only: the script never routes the text (§5.3 不作为切流)."""

    options: RescoreOptions
    name: str = "script"

    def __call__(self, candidate: TextFeatures, primary: TextFeatures, context: ScoringContext) -> float:
        letters = sum(n for _, n in candidate.scripts)
        if not letters:
            return 0.0
        allowed = set(expected_scripts(context.language))
        for keyword in context.user_keywords:
            allowed.update(script for script, _ in analyse(keyword).scripts)
        foreign = sum(n for script, n in candidate.scripts if script not in allowed) / letters
        matrix = [s for s in expected_scripts(context.language) if s != "latin"]
        missing = bool(matrix) and not any(candidate.letters(s) for s in matrix)
        return -self.options.script_points * min(1.0, foreign + missing)


@dataclass(frozen=True)
class LengthSanity:
    options: RescoreOptions
    name: str = "length"

    def __call__(self, candidate: TextFeatures, primary: TextFeatures, context: ScoringContext) -> float:
        too_short = candidate.content_tokens < self.options.min_length_ratio * primary.content_tokens
        return -self.options.length_points if candidate.content_tokens == 0 or too_short else 0.0


def default_rules(options: RescoreOptions) -> tuple[Rule, ...]:
    return (NumberProtection(options), KeywordHits(options), RepetitionPenalty(options), ScriptPlausibility(options),
            LengthSanity(options))


def _terms(features: TextFeatures) -> set[str]:
    """Comparable units of a text: Latin words of 3+ letters, CJK character bigrams."""
    tokens = features.tokens
    terms = {t for t in tokens if not is_cjk(t) and len(t) >= 3}
    terms.update(a + b for a, b in zip(tokens, tokens[1:]) if is_cjk(a) and is_cjk(b))
    return terms


@dataclass(frozen=True)
class ContextScore:
    options: RescoreOptions

    def __call__(self, candidate: TextFeatures, context: ScoringContext) -> dict[str, float]:
        recent = [k for k in context.recent_keywords if phrase_tokens(k)]
        hits = len(keyword_hits(candidate, recent))
        terms = _terms(candidate)
        seen: set[str] = set()
        for line in context.recent_lines:
            seen |= _terms(analyse(line))
        overlap = len(terms & seen) / len(terms) if terms else 0.0
        return {"recent_keywords": self.options.context_keyword_points * hits,
                "overlap": self.options.context_overlap_points * overlap}


@dataclass(frozen=True)
class CandidateScore:
    candidate: Candidate
    rule: float  # RuleScore, the sum of parts' rule entries
    context: float  # ContextScore
    hook: float | None  # None: not among the two the hook scores (or no hook)
    total: float
    parts: dict[str, float] = field(default_factory=dict)  # each rule's and context signal's points

    def to_json(self) -> dict:
        return {**self.candidate.to_json(), "rule": round(self.rule, 4), "context": round(self.context, 4),
                "hook": self.hook, "total": round(self.total, 4),
                "parts": {k: round(v, 4) for k, v in self.parts.items() if v}}


@dataclass(frozen=True)
class RescoreResult:
    scores: tuple[CandidateScore, ...]  # in candidate order; scores[0] is the primary
    best: CandidateScore  # highest total (the primary on ties)
    delta: float  # best.total − primary.total
    replaced: bool  # best is not the primary and delta ≥ delta_margin
    # "replaced", "margin_not_met", "primary_best" or "no_alternative", then the parts that moved
    reasons: tuple[str, ...]

    @property
    def primary(self) -> CandidateScore:
        return self.scores[0]

    @property
    def final(self) -> CandidateScore:
        return self.best if self.replaced else self.primary


class Rescorer:
    def __init__(self, options: RescoreOptions = RescoreOptions(), rules: Sequence[Rule] | None = None,
                 context_score: ContextScore | None = None, hook: CandidateScorer | None = None):
        self.options = options
        self.rules = tuple(rules) if rules is not None else default_rules(options)
        self.context_score = context_score or ContextScore(options)
        self.hook = hook

    def _score(self, candidate: Candidate, primary: TextFeatures, context: ScoringContext) -> CandidateScore:
        features = analyse(candidate.text)
        parts = {rule.name: float(rule(features, primary, context)) for rule in self.rules}
        rule = sum(parts.values())
        context_parts = self.context_score(features, context)
        ctx = sum(context_parts.values())
        parts.update({f"context.{k}": v for k, v in context_parts.items()})
        return CandidateScore(candidate, rule, ctx, None, self.options.w_rule * rule + self.options.w_ctx * ctx, parts)

    def rescore(self, candidates: Sequence[Candidate], context: ScoringContext = ScoringContext()) -> RescoreResult:
        """``candidates[0]`` is the primary; the rest come from S2-A and/or S2-B, de-duplicated."""
        if not candidates:
            raise ValueError("no candidates: the primary hypothesis comes first")
        primary_features = analyse(candidates[0].text)
        scores = [self._score(c, primary_features, context) for c in candidates]
        if len(scores) == 1:
            return RescoreResult(tuple(scores), scores[0], 0.0, False, ("no_alternative",))
        # the strongest challenger; on equal totals the earlier (better-ranked) candidate
        challenger = max(range(1, len(scores)), key=lambda i: (scores[i].total, -i))
        if self.hook is not None:
            hook = [float(h) for h in self.hook([scores[0].candidate.text, scores[challenger].candidate.text], context)]
            if len(hook) != 2 or not all(math.isfinite(h) for h in hook):
                raise ValueError(f"the scorer hook returned {hook!r} for 2 texts")
            for index, value in zip((0, challenger), hook):
                s = scores[index]
                scores[index] = CandidateScore(s.candidate, s.rule, s.context, value,
                                               s.total + self.options.w_hook * value, {**s.parts, "hook": value})
        best = scores[challenger] if scores[challenger].total > scores[0].total else scores[0]
        delta = best.total - scores[0].total
        replaced = best is not scores[0] and delta >= self.options.delta_margin
        if best is scores[0]:
            reasons = ["primary_best"]
        else:
            reasons = ["replaced" if replaced else "margin_not_met"]
            for name in best.parts.keys() | scores[0].parts.keys():
                moved = best.parts.get(name, 0.0) - scores[0].parts.get(name, 0.0)
                if abs(moved) > 1e-9:
                    reasons.append(f"{name}{moved:+.2f}")
        return RescoreResult(tuple(scores), best, delta, replaced, tuple(sorted(reasons[:1]) + sorted(reasons[1:])))
