"""Where a stage's tracked run goes (every tracked stage's config nests one)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TrackingConfig:
    backend: str = "mlflow"  # "mlflow" or "disk"
    uri: str | None = None  # MLflow tracking URI (default $MLFLOW_TRACKING_URI, then sqlite:///mlflow.db) or disk root
    experiment: str = "workbench"  # MLflow experiment name

    def __post_init__(self):
        if self.backend not in ("mlflow", "disk"):
            raise ValueError(f"tracking.backend: unknown {self.backend!r}; choose mlflow or disk")
