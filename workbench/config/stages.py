"""One frozen config per stage; each field documents itself. Defaults are the ``default`` profile."""

from __future__ import annotations

from dataclasses import dataclass

from workbench.metrics.options import ScoreConfig
from workbench.tracking.options import TrackingConfig


