"""Result records: the one way a corpus-level result becomes flat metrics, and shared per-utterance counts."""

from __future__ import annotations

import dataclasses
import functools


class MetricResult:
    """Mixin for result dataclasses: every field as a float metric, optionally prefixed."""

    def as_metrics(self, prefix: str = "") -> dict[str, float]:
        return {f"{prefix}{f.name}": float(getattr(self, f.name)) for f in dataclasses.fields(self)}


@functools.lru_cache(maxsize=1 << 16)
def shared_record(cls: type, *values: int):
    """One shared instance per distinct (class, values) of a frozen per-utterance count record.

    Counts repeat across utterances (few distinct values in a corpus), so a corpus score holds a few
    hundred records instead of five per utterance that the collector's pass and the deallocation
    would walk, and a cache hit costs less than building a record (measured: the full metric set
    ~10 % faster than with a new record each time).
    """
    return cls(*values)
