"""The one way a corpus-level result dataclass becomes flat metrics for MLflow / DVC."""

from __future__ import annotations

import dataclasses


class MetricResult:
    """Mixin for result dataclasses: every field as a float metric, optionally prefixed."""

    def as_metrics(self, prefix: str = "") -> dict[str, float]:
        return {f"{prefix}{f.name}": float(getattr(self, f.name)) for f in dataclasses.fields(self)}
