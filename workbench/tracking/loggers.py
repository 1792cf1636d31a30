"""Run loggers: log the resolved config first, then params, metrics and artifacts.

``tracked_run`` is the one way stages open a run: a stage that raises ends its run FAILED with
the error text as a tag (MLflow) or in ``status.json`` (disk), and the exception propagates.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import time
import traceback
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Protocol, runtime_checkable

DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"


def flatten(config: Mapping, prefix: str = "") -> dict[str, str]:
    """Nested config -> {"a.b": "value"} with values as strings (MLflow params are strings)."""
    out: dict[str, str] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flatten(value, name + "."))
        else:
            out[name] = json.dumps(value, ensure_ascii=False) if isinstance(value, (list, tuple, dict)) else str(value)
    return out


@runtime_checkable
class RunLogger(Protocol):
    def log_config(self, config: Mapping) -> None: ...
    def log_params(self, params: Mapping) -> None: ...
    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None: ...
    def log_artifact(self, path: Path | str, folder: str | None = None) -> None: ...
    def set_tags(self, tags: Mapping[str, str]) -> None: ...
    def finish(self, status: str = "FINISHED", error: str | None = None) -> None: ...


_MLFLOW_NAME_INVALID = re.compile(r"[^0-9A-Za-z_\-. :/]")


def mlflow_metric_name(name: str) -> str:
    """MLflow accepts only alphanumerics and ``_-. :/`` in metric names; our metric keys use ``@``
    (``exact@1_recall``), which becomes ``_at_``; anything else invalid becomes ``_``."""
    return _MLFLOW_NAME_INVALID.sub("_", name.replace("@", "_at_"))


class MLflowLogger:
    """One MLflow run. ``uri`` defaults to $MLFLOW_TRACKING_URI, then ``sqlite:///mlflow.db``."""

    def __init__(self, experiment: str, run_name: str, uri: str | None = None, tags: Mapping | None = None):
        from mlflow.tracking import MlflowClient

        self.uri = uri or os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI
        self.client = MlflowClient(tracking_uri=self.uri)
        existing = self.client.get_experiment_by_name(experiment)
        experiment_id = existing.experiment_id if existing else self.client.create_experiment(experiment)
        self.run = self.client.create_run(experiment_id, run_name=run_name, tags=dict(tags or {}))
        self.run_id = self.run.info.run_id

    def log_config(self, config: Mapping) -> None:
        self.client.log_dict(self.run_id, dict(config), "config.json")
        self.log_params(flatten(config))

    def log_params(self, params: Mapping) -> None:
        from mlflow.entities import Param

        items = [Param(k, str(v)[:6000]) for k, v in flatten(params).items()]
        for start in range(0, len(items), 100):
            self.client.log_batch(self.run_id, params=items[start : start + 100])

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        items = [Metric(mlflow_metric_name(k), float(v), now, step or 0) for k, v in metrics.items()]
        for start in range(0, len(items), 500):
            self.client.log_batch(self.run_id, metrics=items[start : start + 500])

    def log_artifact(self, path: Path | str, folder: str | None = None) -> None:
        self.client.log_artifact(self.run_id, str(path), folder)

    def set_tags(self, tags: Mapping[str, str]) -> None:
        for key, value in tags.items():
            self.client.set_tag(self.run_id, key, str(value))

    def finish(self, status: str = "FINISHED", error: str | None = None) -> None:
        if error:
            self.client.set_tag(self.run_id, "error", error[-5000:])
        self.client.set_terminated(self.run_id, status=status)


class DiskLogger:
    """A run as files: config.json, params.json, metrics.jsonl, tags.json, status.json, artifacts/."""

    def __init__(self, root: Path | str, run_name: str, tags: Mapping | None = None):
        self.dir = Path(root) / f"{time.strftime('%Y%m%d-%H%M%S')}-{run_name}"
        self.dir.mkdir(parents=True, exist_ok=True)
        self._params: dict[str, str] = {}
        self._tags: dict[str, str] = dict(tags or {})
        self._write("tags.json", self._tags)
        self._write("status.json", {"status": "RUNNING"})

    def _write(self, name: str, payload) -> None:
        tmp = self.dir / f".{name}.tmp"
        tmp.write_text(json.dumps(payload, ensure_ascii=False, indent=2), encoding="utf-8")
        os.replace(tmp, self.dir / name)

    def log_config(self, config: Mapping) -> None:
        self._write("config.json", dict(config))
        self.log_params(flatten(config))

    def log_params(self, params: Mapping) -> None:
        self._params.update(flatten(params))
        self._write("params.json", self._params)

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        with open(self.dir / "metrics.jsonl", "a", encoding="utf-8") as handle:
            handle.write(json.dumps({"step": step or 0, "time": time.time(),
                                     **{k: float(v) for k, v in metrics.items()}}) + "\n")

    def log_artifact(self, path: Path | str, folder: str | None = None) -> None:
        target = self.dir / "artifacts" / (folder or "")
        target.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target / Path(path).name)

    def set_tags(self, tags: Mapping[str, str]) -> None:
        self._tags.update({k: str(v) for k, v in tags.items()})
        self._write("tags.json", self._tags)

    def finish(self, status: str = "FINISHED", error: str | None = None) -> None:
        self._write("status.json", {"status": status, **({"error": error} if error else {})})


class SilentLogger(RunLogger):
    """The logger of every process but the main one in a multi-process run: one run, one log
    (the protocol's methods, inherited, do nothing)."""


def make_logger(backend: str, experiment: str, run_name: str, uri: str | None = None, tags: Mapping | None = None,
                main_process: bool = True) -> RunLogger:
    """``backend``: "mlflow" (uri = tracking URI) or "disk" (uri = directory). Processes other than
    the main one (``main_process=False``, e.g. ranks > 0 under ``accelerate launch``) log nothing."""
    if not main_process:
        return SilentLogger()
    if backend == "mlflow":
        return MLflowLogger(experiment, run_name, uri, tags)
    if backend == "disk":
        return DiskLogger(Path(uri or "runs") / experiment, run_name, tags)
    raise ValueError(f"unknown tracking backend {backend!r}; choose mlflow or disk")


@contextlib.contextmanager
def tracked_run(logger: RunLogger, config: Mapping) -> Iterator[RunLogger]:
    """Log the config first; end FINISHED, or FAILED with the error text if the body raises."""
    try:
        logger.log_config(config)
        yield logger
    except BaseException as error:
        text = "".join(traceback.format_exception(type(error), error, error.__traceback__))
        logger.finish("KILLED" if isinstance(error, KeyboardInterrupt) else "FAILED", text)
        raise
    else:
        logger.finish("FINISHED")
