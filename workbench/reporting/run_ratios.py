"""Two runs' per-item ratios compared (``workbench compare --runs A B``).

A run is named either by its MLflow run id (its ``ratios.json`` artifact, read from the tracking
store) or by a stage's output directory or ``ratios.json`` file; both sides are then paired on
their items, on the metrics both report (or the ones asked for).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from pathlib import Path

from workbench.errors import InputError, MissingInputError
from workbench.metrics.intervals import Comparison, UtteranceRatios, compare_ratios
from workbench.metrics.options import IntervalConfig

RATIOS_FILE = "ratios.json"
_RUN_ID = re.compile(r"[0-9a-f]{32}")  # MLflow's run ids (uuid4 hex); anything else is read as a path
_PREDATES = "it predates per-item ratios, or its stage writes none"


def ratios_at(path: Path) -> UtteranceRatios | None:
    """The ratios of a stage output directory (its ``ratios.json``) or of a ratios file; None when
    there is no such file, an error naming it when it cannot be read."""
    file = path / RATIOS_FILE if path.is_dir() else path
    if not file.is_file():
        return None
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise InputError(f"{file}: cannot read per-item ratios: {error}") from None
    return UtteranceRatios.from_json(data, str(file))


def tracking_uri(uri: str | None = None) -> str:
    """The store the other stages log to: ``uri``, else $MLFLOW_TRACKING_URI, else the default."""
    from workbench.tracking.loggers import DEFAULT_TRACKING_URI

    return uri or os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI


def load_ratios(sources: Sequence[str], uri: str | None = None) -> list[UtteranceRatios]:
    """Each source's ratios: an existing path, else an MLflow run id of the store at ``uri``
    (opened only when a run id is given); a source without ratios is an error naming it."""
    store, found = None, []
    for source in sources:
        path = Path(source)
        if path.exists():
            ratios = ratios_at(path)
            if ratios is None:
                raise InputError(f"{path}: no {RATIOS_FILE} ({_PREDATES})")
        elif _RUN_ID.fullmatch(source):
            if store is None:
                from workbench.reporting.runs import RunStore

                store = RunStore(tracking_uri(uri))
            run = next((r for r in store.runs if r.run_id == source), None)
            if run is None:
                raise InputError(f"run {source}: no finished run with this id in {store.uri}")
            ratios = store.ratios(run)
            if ratios is None:
                raise InputError(f"run {source} ({run.name}): no {RATIOS_FILE} artifact ({_PREDATES})")
        else:
            raise MissingInputError(source, "stage output directory, ratios.json or MLflow run id")
        found.append(ratios)
    return found


def compare_runs(sources: tuple[str, str], names: Sequence[str] | None = None,
                 config: IntervalConfig = IntervalConfig(), uri: str | None = None) -> Comparison:
    """Δ = B − A between the runs ``sources`` (A, B) on their items: the metrics both report, or
    ``names`` (each must be in both)."""
    a, b = load_ratios(sources, uri)
    if names:
        for label, source, ratios in (("A", sources[0], a), ("B", sources[1], b)):
            missing = [name for name in names if name not in ratios.metrics]
            if missing:
                shown = ", ".join(sorted(ratios.metrics)[:12]) + (" …" if len(ratios.metrics) > 12 else "")
                raise InputError(f"run {label} ({source}) has no per-item ratios of {missing} (it has: {shown})")
    else:
        names = [name for name in a.metrics if name in b.metrics]
    return compare_ratios(a, b, names, config)
