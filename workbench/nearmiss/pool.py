"""The near-miss pool of one utterance: propose, construct, measure, gate, select (seed 003 §3, §4.2).

Per utterance: POIs of the reference (``workbench.text.poi.poi_spans``, the rules PIER uses);
candidate replacements per POI from each enabled source; one candidate per distinct near-miss
text (first source wins, in the configured order); the acoustic margin of every candidate from
one teacher-forced decoder pass over the reference and all candidates (one encoder pass); text
and phoneme distances of the POI segments; the gate's verdict with its reason; then the fixed
negative-selection policy: kept candidates taken round-robin over (POI category, edit type)
buckets, most plausible (smallest acoustic margin) first in each bucket, up to M per utterance.
Rejected candidates stay in the pool with their reason: the gate's statistics are a result.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from workbench.nearmiss.candidates import Candidate, CandidateBuilder, comparison_key
from workbench.nearmiss.gate import TABLE3_GATES, GateConfig, Measurements, cross_script_distance, decide
from workbench.text.phonetics import text_distance
from workbench.text.poi import PoiSpan


@dataclass(frozen=True)
class PoolInput:
    id: str
    reference: str  # tag-free reference
    language: str  # matrix language
    embedded_language: str
    pois: tuple[PoiSpan, ...]
    hypotheses: tuple[str, ...]  # N-best texts, best first
    nbest_segments: tuple[tuple[str, ...], ...]  # per hypothesis, per POI: its aligned surface text


class CandidateSource(Protocol):
    """Proposes replacement strings per POI index; pluggable (``name`` is the pool's ``source``)."""

    name: str

    def propose(self, item: PoolInput) -> dict[int, list[str]]: ...


class NBestSource:
    name = "nbest"

    def propose(self, item: PoolInput) -> dict[int, list[str]]:
        proposals: dict[int, list[str]] = {}
        for segments in item.nbest_segments:
            for index, segment in enumerate(segments):
                proposals.setdefault(index, []).append(segment)
        return proposals


@dataclass
class ScoredNegative:
    candidate: Candidate
    measured: Measurements
    kept: bool
    reason: str
    selected: bool = False


@dataclass
class UtterancePool:
    item: PoolInput
    reference_score: float | None
    negatives: list[ScoredNegative] = field(default_factory=list)
    proposed: Counter = field(default_factory=Counter)  # replacements proposed per source
    duplicates: int = 0  # proposals whose near-miss text another proposal already gave
    same_as_reference: int = 0
    capped: int = 0  # distinct candidates beyond max_candidates (not scored)

    def to_json(self) -> dict:
        pois = self.item.pois
        return {
            "id": self.item.id, "reference": self.item.reference, "language": self.item.language,
            "reference_score": self.reference_score,
            "pois": [{"text": p.text, "start": p.start, "end": p.end, "category": p.category} for p in pois],
            "negatives": [
                {
                    "text": n.candidate.text, "poi": pois[n.candidate.poi].text, "poi_index": n.candidate.poi,
                    "category": pois[n.candidate.poi].category, "replacement": n.candidate.replacement,
                    "source": n.candidate.source, "edit": n.candidate.edit,
                    "acoustic_margin": round(n.measured.acoustic_margin, 5),
                    "phone_dist": round(n.measured.phone_dist, 5), "text_dist": round(n.measured.text_dist, 5),
                    "kept": n.kept, "reason": n.reason, "selected": n.selected,
                }
                for n in self.negatives
            ],
            "counts": {
                "proposed": dict(self.proposed), "duplicates": self.duplicates,
                "same_as_reference": self.same_as_reference, "capped": self.capped,
            },
        }


Scorer = Callable[[Sequence[str]], list[float]]  # texts -> length-normalized teacher-forced scores
PhonemeDistance = Callable[[str, str, str | None], float]


class PoolBuilder:
    def __init__(
        self,
        builder: CandidateBuilder,
        sources: Sequence[CandidateSource],
        gate: GateConfig,
        phoneme_distance: PhonemeDistance,
        max_candidates: int = 24,
        negatives: int = 4,
    ):
        if max_candidates < 1 or negatives < 0:
            raise ValueError(f"max_candidates must be >= 1 and negatives >= 0, got {max_candidates}, {negatives}")
        self.builder, self.sources, self.gate = builder, list(sources), gate
        self.phoneme_distance = phoneme_distance
        self.max_candidates, self.negatives = max_candidates, negatives

    def candidates(self, item: PoolInput, pool: UtterancePool) -> list[Candidate]:
        """Distinct near-misses, interleaved over sources and POIs so a cap keeps every source."""
        per_source: list[list[Candidate]] = []
        reference = comparison_key(self.builder, item.reference)
        seen: set[str] = set()  # keys of the candidates kept so far: one normalization per candidate
        for source in self.sources:
            proposals = source.propose(item)
            ordered: list[Candidate] = []
            for index in sorted(proposals):
                for replacement in proposals[index]:
                    pool.proposed[source.name] += 1
                    candidate = self.builder.build(item.reference, item.pois, index, replacement, source.name)
                    key = comparison_key(self.builder, candidate.text)
                    if key == reference:
                        pool.same_as_reference += 1
                    elif key in seen:
                        pool.duplicates += 1
                    else:
                        seen.add(key)
                        ordered.append(candidate)
            per_source.append(ordered)
        interleaved = [c for round_ in _round_robin(per_source) for c in round_]
        pool.capped = max(0, len(interleaved) - self.max_candidates)
        return interleaved[: self.max_candidates]

    def measure(self, item: PoolInput, candidate: Candidate, margin: float) -> Measurements:
        poi = item.pois[candidate.poi]
        text_dist = text_distance(poi.text, candidate.replacement, self.builder.normalize)
        crossed = cross_script_distance(poi.text, candidate.replacement)
        hint = item.embedded_language if poi.category == "embedded" else item.language
        phone_dist = crossed if crossed is not None else self.phoneme_distance(poi.text, candidate.replacement, hint)
        return Measurements(margin, text_dist, phone_dist)

    def build(self, item: PoolInput, score: Scorer | None) -> UtterancePool:
        pool = UtterancePool(item, None)
        if not item.pois:
            return pool
        candidates = self.candidates(item, pool)
        if not candidates:
            return pool
        if score is not None:
            reference_score, *scores = score([item.reference] + [c.text for c in candidates])
            pool.reference_score = reference_score
            margins = [reference_score - s for s in scores]
        else:  # no acoustic model: the acoustic level cannot pass anything
            margins = [float("inf")] * len(candidates)
        for candidate, margin in zip(candidates, margins):
            measured = self.measure(item, candidate, margin)
            kept, reason = decide(measured, self.gate)
            pool.negatives.append(ScoredNegative(candidate, measured, kept, reason))
        for negative in select(pool.negatives, item.pois, self.negatives):
            negative.selected = True
        return pool


def _round_robin(groups: Sequence[Sequence]) -> list[list]:
    rounds, i = [], 0
    while any(i < len(g) for g in groups):
        rounds.append([g[i] for g in groups if i < len(g)])
        i += 1
    return rounds


def select(negatives: Sequence[ScoredNegative], pois: Sequence[PoiSpan], limit: int) -> list[ScoredNegative]:
    """The fixed policy (§4.2): kept negatives round-robin over (POI category, edit type)
    buckets in sorted bucket order, smallest acoustic margin first within a bucket."""
    buckets: dict[tuple[str, str], list[ScoredNegative]] = {}
    for negative in negatives:
        if negative.kept:
            key = (pois[negative.candidate.poi].category, negative.candidate.edit)
            buckets.setdefault(key, []).append(negative)
    ordered = [
        sorted(buckets[key], key=lambda n: (n.measured.acoustic_margin, n.candidate.text)) for key in sorted(buckets)
    ]
    return [n for round_ in _round_robin(ordered) for n in round_][:limit]


def _measured(negative: dict) -> Measurements:
    return Measurements(negative["acoustic_margin"], negative["text_dist"], negative["phone_dist"])


def pool_statistics(records: Sequence[dict], gate: GateConfig, negatives: int) -> dict:
    """Per corpus, from pool records (``UtterancePool.to_json``): candidates per source, and kept
    candidates and NM/utt under every gate configuration of seed 003 Table 3."""
    with_poi = [r for r in records if r["pois"]]
    candidates = [n for r in records for n in r["negatives"]]
    stats: dict = {
        "utterances": len(records), "utterances_with_poi": len(with_poi),
        "utterances_without_poi": len(records) - len(with_poi), "pois": sum(len(r["pois"]) for r in records),
        "proposed": dict(sum((Counter(r["counts"]["proposed"]) for r in records), Counter())),
        "candidates": dict(Counter(n["source"] for n in candidates)), "candidates_total": len(candidates),
        "duplicates": sum(r["counts"]["duplicates"] for r in records),
        "same_as_reference": sum(r["counts"]["same_as_reference"] for r in records),
        "capped": sum(r["counts"]["capped"] for r in records),
        "edits": dict(Counter(n["edit"] for n in candidates)),
        "gates": {},
    }
    for name, levels in TABLE3_GATES.items():
        config = gate.with_levels(*levels)
        kept_per_utt = [sum(decide(_measured(n), config)[0] for n in r["negatives"]) for r in with_poi]
        kept_by_source = Counter(n["source"] for n in candidates if decide(_measured(n), config)[0])
        stats["gates"][name] = {
            "kept": sum(kept_per_utt), "kept_by_source": dict(kept_by_source),
            # NM/utt as seed 003 reports it: negatives available per utterance with a POI, at most M
            "nm_per_utt": sum(min(k, negatives) for k in kept_per_utt) / len(with_poi) if with_poi else float("nan"),
            "kept_per_utt_uncapped": sum(kept_per_utt) / len(with_poi) if with_poi else float("nan"),
        }
    selected = [sum(n["selected"] for n in r["negatives"]) for r in with_poi]
    stats["selected_per_utt"] = sum(selected) / len(with_poi) if with_poi else float("nan")
    return stats


def negatives_from_record(record: dict, gate: GateConfig, levels: tuple[bool, bool, bool], sources: Sequence[str],
                          count: int) -> list[str]:
    """Re-select a pool record's negatives for an experiment: only ``sources``, kept under the
    gate ``levels`` (thresholds from ``gate``), then the same fixed policy. One pool serves every
    row of seed 003 Tables 2–3."""
    pois = [PoiSpan(p["start"], p["end"], p["text"], p["category"], (0, 0)) for p in record["pois"]]
    config = gate.with_levels(*levels)
    scored = []
    for n in record["negatives"]:
        if n["source"] not in sources:
            continue
        measured = _measured(n)
        kept, reason = decide(measured, config)
        candidate = Candidate(n["poi_index"], n["replacement"], n["source"], n["text"], n["edit"])
        scored.append(ScoredNegative(candidate, measured, kept, reason))
    return [n.candidate.text for n in select(scored, pois, count)]
