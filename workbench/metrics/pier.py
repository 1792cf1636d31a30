"""PIER: Point-of-Interest Error Rate (Ugan et al. 2025; seed 003 Eq. 12).

Definition used here. Align the normalized hypothesis to the normalized reference once (mixed
tokens: CJK characters one each, other scripts by whitespace). With P the set of POI reference
positions (see ``workbench.text.poi``):

    POI errors = substitutions of tokens in P + deletions of tokens in P
                 + insertions adjacent to a token in P
    PIER       = POI errors / |P|

Insertion rule: an insertion sits in a gap between reference tokens g-1 and g; it is a POI
error when either neighbour (g-1 or g) is a POI, otherwise a non-POI error. So "meeting" heard
as "米听" is one substitution plus one adjacent insertion: two POI errors for one POI token.
All remaining errors over the remaining reference tokens give the non-POI rate reported beside
it. Utterances without POIs have no PIER; they are counted as excluded, never dropped silently.
Corpus PIER sums POI errors and POI tokens over the included utterances.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from workbench.metrics.alignment import Alignment, align, position_mask
from workbench.metrics.result import MetricResult, shared_record
from workbench.text.poi import TaggedTokens


@dataclass(frozen=True, slots=True)
class PIERCounts:
    poi_tokens: int
    poi_errors: int
    other_tokens: int
    other_errors: int

    @property
    def pier(self) -> float:
        return self.poi_errors / self.poi_tokens if self.poi_tokens else float("nan")

    @property
    def non_poi_rate(self) -> float:
        return self.other_errors / self.other_tokens if self.other_tokens else float("nan")


@dataclass(frozen=True)
class PIERResult(MetricResult):
    """Corpus PIER with the non-POI remainder and the utterances excluded for having no POI."""

    pier: float
    non_poi_rate: float
    poi_tokens: int
    poi_errors: int
    other_tokens: int
    other_errors: int
    utterances: int
    excluded_no_poi: int



def pier_counts(alignment: Alignment, poi: Sequence[bool] | bytes) -> PIERCounts:
    """Split one alignment's errors into POI and non-POI parts (the rule in the module docstring)."""
    if len(poi) != alignment.reference_length:
        raise ValueError(f"{len(poi)} POI flags for {alignment.reference_length} reference tokens")
    flags = poi if isinstance(poi, bytes) else bytes(map(bool, poi))
    n_poi = flags.count(1)
    if not n_poi:  # no POI: everything is the non-POI remainder
        return shared_record(PIERCounts, 0, 0, len(flags), alignment.errors)
    mask = position_mask(flags)
    poi_errors = (mask & alignment.wrong).bit_count()  # substitutions and deletions of POI tokens
    before = mask << 1  # bit g: the token before gap g is a POI; bit g + 1: the token after it
    if alignment.inserted:
        poi_errors += sum(1 for gap, _position in alignment.inserted if (before >> gap) & 3)
    return shared_record(PIERCounts, n_poi, poi_errors, len(flags) - n_poi, alignment.errors - poi_errors)


def utterance_pier(reference: TaggedTokens, hypothesis_tokens: Sequence[str]) -> PIERCounts:
    return pier_counts(align(reference.tokens, hypothesis_tokens), reference.poi)


def corpus_pier(counts: Iterable[PIERCounts]) -> PIERResult:
    counts = list(counts)
    included = [c for c in counts if c.poi_tokens]
    poi_tokens = sum([c.poi_tokens for c in included])
    poi_errors = sum([c.poi_errors for c in included])
    other_tokens = sum([c.other_tokens for c in included])
    other_errors = sum([c.other_errors for c in included])
    return PIERResult(
        pier=poi_errors / poi_tokens if poi_tokens else float("nan"),
        non_poi_rate=other_errors / other_tokens if other_tokens else float("nan"),
        poi_tokens=poi_tokens, poi_errors=poi_errors, other_tokens=other_tokens, other_errors=other_errors,
        utterances=len(counts), excluded_no_poi=len(counts) - len(included),
    )
