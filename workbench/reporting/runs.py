"""The finished runs of an MLflow tracking store, selected by the tags our stages set.

Stages tag every run with ``stage`` (and ``study``, ``variant``, ``pair``, ``manifest`` where they
apply); experiment names are configurable per stage, so the report selects by tags, never by
experiment name. When a stage ran several times (re-runs, ``dvc exp run`` variants) the newest
finished run of each key wins, as a comparison table needs one row per key.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from workbench.errors import TrackingStoreError
from workbench.metrics.intervals import UtteranceRatios
from workbench.tracking.loggers import mlflow_metric_name


@dataclass(frozen=True)
class RunRecord:
    run_id: str
    experiment: str
    name: str
    start_time: int
    tags: Mapping[str, str] = field(default_factory=dict)
    params: Mapping[str, str] = field(default_factory=dict)
    metrics: Mapping[str, float] = field(default_factory=dict)

    def metric(self, name: str) -> float | None:
        """A metric by the name the stage logged (``@`` and other characters MLflow refuses are
        mapped as the logger maps them); None when the run did not log it: a gap, not a zero."""
        value = self.metrics.get(mlflow_metric_name(name))
        return None if value is None or value != value else value


class RunStore:
    """Every FINISHED run of a tracking URI, newest first, loaded once."""

    def __init__(self, uri: str):
        from mlflow.tracking import MlflowClient

        self.uri = uri
        self.client = MlflowClient(tracking_uri=uri)
        try:
            self.runs = self._load()
        except Exception as error:  # noqa: BLE001 (MLflow raises many kinds; the user needs the URI and why)
            reason = str(error).splitlines()[0][:300]
            raise TrackingStoreError(f"cannot read the MLflow tracking store {uri}: {reason}") from None
        self._downloads = tempfile.TemporaryDirectory(prefix="workbench-report-")  # removed with the store
        self._artifact_dir = Path(self._downloads.name)

    def _load(self) -> list[RunRecord]:
        from mlflow.entities import ViewType

        experiments = {e.experiment_id: e.name for e in self.client.search_experiments(view_type=ViewType.ACTIVE_ONLY)}
        records: list[RunRecord] = []
        if not experiments:
            return records
        token = None
        while True:
            page = self.client.search_runs(
                list(experiments), filter_string="attributes.status = 'FINISHED'",
                order_by=["attributes.start_time DESC"], max_results=1000, page_token=token,
            )
            for run in page:
                records.append(RunRecord(
                    run_id=run.info.run_id, experiment=experiments.get(run.info.experiment_id, ""),
                    name=run.info.run_name or "", start_time=run.info.start_time or 0,
                    tags={k: v for k, v in run.data.tags.items() if not k.startswith("mlflow.")},
                    params=dict(run.data.params), metrics=dict(run.data.metrics),
                ))
            token = page.token
            if not token:
                break
        records.sort(key=lambda r: r.start_time, reverse=True)
        return records

    def select(self, **tags: str) -> list[RunRecord]:
        """Runs whose tags equal every given value, newest first."""
        return [r for r in self.runs if all(r.tags.get(k) == v for k, v in tags.items())]

    def latest(self, **tags: str) -> RunRecord | None:
        found = self.select(**tags)
        return found[0] if found else None

    def latest_by(self, key: str | Iterable[str], **tags: str) -> dict:
        """The newest run per value of the tag(s) ``key`` among the runs matching ``tags``."""
        keys = (key,) if isinstance(key, str) else tuple(key)
        out: dict = {}
        for run in self.select(**tags):
            value = tuple(run.tags.get(k) for k in keys)
            if None in value:
                continue
            out.setdefault(value[0] if len(keys) == 1 else value, run)
        return out

    def ratios(self, run: RunRecord) -> UtteranceRatios | None:
        """The run's per-item ratios (its ``ratios.json`` artifact), or None when it logged none."""
        data = self.artifact_json(run, "ratios.json")
        return None if data is None else UtteranceRatios.from_json(data, f"run {run.run_id} ratios.json")

    def artifact_json(self, run: RunRecord | None, path: str) -> dict | None:
        """A JSON artifact of a run (e.g. the stage's metrics.json), or None when absent/unreadable."""
        if run is None:
            return None
        try:
            local = self.client.download_artifacts(run.run_id, path, str(self._artifact_dir / run.run_id))
            return json.loads(Path(local).read_text(encoding="utf-8"))
        except Exception:  # noqa: BLE001 (a missing artifact is a gap in the report, not a failure)
            return None
