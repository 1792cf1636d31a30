"""Guarding metrics against a recorded baseline (``workbench regress``).

The baseline (JSON) lists the metrics to guard, each with where it lives, its recorded value and
which direction is better::

    {"metrics": [
      {"file": "results/baseline/en_entities/metrics.json", "key": "wer", "value": 0.098, "better": "lower",
       "ci_lo": 0.071, "ci_hi": 0.127},
      {"file": "results/retrieval/phonetic/eval/metrics.json", "key": "lists.phonetic.[exact@1_recall]",
       "value": 0.355, "better": "higher"}],
     "ratios": {"results/baseline/en_entities/ratios.json": {"format": "workbench-ratios/1", ...}}}

``key`` is a dotted path into the file's JSON (a part holding dots is written in brackets:
``a.[b.c].d``). A missing or unreadable file or key is a :class:`BaselineError` naming it, never a
silent pass. Two ways to judge a metric:

- ``tolerance`` (the default): it regresses when worse than the recorded value by more than the
  tolerance.
- ``interval``: when the baseline holds the baseline run's per-item ratios of the metric
  (``ratios``, keyed by the ratios.json beside the metrics file) and the current run wrote its
  ratios.json on the same items, a paired test of Δ = now − baseline decides: it regresses when Δ
  is in the bad direction with p < 1 − confidence. Else, when the baseline holds the interval the
  baseline run logged (``ci_lo``/``ci_hi``, from ``<metric>_ci_lo``/``_ci_hi`` beside the metric),
  it regresses when the current value lies outside it on the bad side. Else the tolerance decides.
  Each check names the rule that decided. The metric's name in ratios.json is the key's parts
  joined by ``/`` (``lists/phonetic/exact@1_recall``, the name the stage logs), or the entry's
  ``ratio``.

Recording (``--record``) writes the current values, the logged intervals and the guarded
metrics' per-item ratios into the baseline, so one recorded file serves both ways of judging.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

from workbench.errors import InputError
from workbench.metrics.intervals import UtteranceRatios, compare_ratios
from workbench.metrics.options import IntervalConfig
from workbench.reporting.run_ratios import RATIOS_FILE, ratios_at

JUDGES = ("tolerance", "interval")


class BaselineError(InputError):
    """A baseline, or a metrics file it points to, that cannot be read or lacks the metric."""


@dataclass(frozen=True)
class RegressConfig:
    """``workbench regress --judge interval``: the bootstrap of the paired test (its confidence
    sets the level: a worsening regresses when p < 1 − confidence)."""

    intervals: IntervalConfig = IntervalConfig()


@dataclass(frozen=True)
class Baseline:
    """The guarded metrics, and the baseline run's per-item ratios by ratios.json path."""

    entries: list[dict]
    ratios: dict[str, UtteranceRatios] = field(default_factory=dict)


@dataclass(frozen=True)
class Check:
    """One metric judged: the rule that decided (``tolerance``, ``interval``: outside the baseline's
    interval, ``paired``: a significant paired worsening) and the numbers it used."""

    file: str
    key: str
    baseline: float
    current: float
    better: str
    rule: str
    regressed: bool
    allowed: float | None = None  # tolerance
    ci_lo: float | None = None  # interval: the baseline run's
    ci_hi: float | None = None
    delta: float | None = None  # paired: Δ = now − baseline, its interval and p
    delta_lo: float | None = None
    delta_hi: float | None = None
    p: float | None = None
    level: float | None = None
    note: str = ""  # why a finer rule could not decide

    def to_json(self) -> dict:
        return asdict(self)

    def line(self) -> str:
        mark = "REGRESSED" if self.regressed else "ok"
        if self.rule == "paired":
            how = (f"paired test: Δ {self.delta:+.4f} [{self.delta_lo:+.4f}, {self.delta_hi:+.4f}], "
                   f"p {self.p:.3f} vs {self.level:g}")
        elif self.rule == "interval":
            how = f"baseline interval [{self.ci_lo:.4f}, {self.ci_hi:.4f}]"
        else:
            how = f"tolerance {self.allowed:.4f}"
        return (f"{mark:9s} {self.file}:{self.key}  baseline {self.baseline:.4f}  now {self.current:.4f}  "
                f"({self.better} is better, {how}{'; ' + self.note if self.note else ''})")


def split_key(key: str) -> list[str]:
    """Dotted path; a part may itself hold dots when written in brackets: ``a.[b.c].d``."""
    parts, buffer, bracket = [], "", False
    for char in key:
        if char == "[" and not buffer:
            bracket = True
        elif char == "]" and bracket:
            bracket = False
        elif char == "." and not bracket:
            parts.append(buffer)
            buffer = ""
        else:
            buffer += char
    parts.append(buffer)
    return parts


def ratio_name(entry: dict) -> str:
    """The metric's name in ratios.json: the entry's ``ratio``, else its key's parts joined by ``/``."""
    return entry.get("ratio") or "/".join(split_key(entry["key"]))


def ratios_path(file: str) -> str:
    """Where a stage writes the per-item ratios of a metrics file: beside it."""
    return (Path(file).parent / RATIOS_FILE).as_posix()


def _read_json(root: Path, file: str) -> object:
    path = root / file
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BaselineError(f"{path}: metrics file missing (has the stage that writes it run?)") from None
    except ValueError as error:
        raise BaselineError(f"{path}: not JSON ({error})") from None


def _number(data: object, parts: list[str]) -> float | str:
    """The number at ``parts`` of ``data``, or what is wrong (the missing part, or the value)."""
    node = data
    for part in parts:
        if not isinstance(node, dict) or part not in node:
            return f"missing {part!r}"
        node = node[part]
    if not isinstance(node, (int, float)) or isinstance(node, bool):
        return f"is {node!r}, not a number"
    return float(node)


def _value(data: object, path: Path, key: str) -> float:
    found = _number(data, split_key(key))
    if isinstance(found, str):
        raise BaselineError(f"{path}: metric {key!r} {found}" if found.startswith("is ")
                            else f"{path}: no metric {key!r} ({found})")
    return found


def _logged_interval(data: object, key: str) -> tuple[float, float] | None:
    """``<metric>_ci_lo``/``_ci_hi`` beside the metric in its file, where the stage logged them."""
    *parent, last = split_key(key)
    lo, hi = (_number(data, [*parent, f"{last}{end}"]) for end in ("_ci_lo", "_ci_hi"))
    return (lo, hi) if isinstance(lo, float) and isinstance(hi, float) else None


def read_value(root: Path, file: str, key: str) -> float:
    return _value(_read_json(root, file), root / file, key)


def load_baseline(path: Path) -> Baseline:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        entries, stored = document["metrics"], document.get("ratios", {})
    except FileNotFoundError:
        raise BaselineError(f"{path}: baseline missing") from None
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise BaselineError(f"{path}: not a baseline (a JSON object with a 'metrics' list): {error}") from None
    for index, entry in enumerate(entries):
        missing = [f for f in ("file", "key", "value", "better") if f not in entry]
        if missing or entry.get("better") not in ("higher", "lower"):
            raise BaselineError(f"{path}: metrics[{index}] needs file, key, value and better (higher|lower); "
                                f"got {entry}")
        if ("ci_lo" in entry) != ("ci_hi" in entry):
            raise BaselineError(f"{path}: metrics[{index}] needs both ci_lo and ci_hi, or neither")
    if not isinstance(stored, dict):
        raise BaselineError(f"{path}: field 'ratios' must map ratios.json paths to per-item ratios")
    ratios = {name: UtteranceRatios.from_json(data, f"{path}: ratios[{name!r}]") for name, data in stored.items()}
    return Baseline(list(entries), ratios)


def _worse(better: str, baseline: float, current: float) -> float:
    """How much worse ``current`` is than ``baseline`` (negative: better)."""
    return baseline - current if better == "higher" else current - baseline


def _paired(common: dict, entry: dict, before: UtteranceRatios | None, now: UtteranceRatios | None,
            config: IntervalConfig) -> Check | str | None:
    """The paired test's check, or why there is none (a note; None when a side has no ratios)."""
    name = ratio_name(entry)
    if before is None or now is None or name not in before.metrics or name not in now.metrics:
        return None
    if set(before.ids) != set(now.ids):
        return f"no paired test: the run covers other items than the baseline ({len(now.ids)} vs {len(before.ids)})"
    comparison = compare_ratios(before, now, [name], config)
    d = comparison.differences[name]
    bad = _worse(entry["better"], 0.0, d.delta) > 0
    regressed = math.isnan(common["current"]) or (bad and d.significant(comparison.level))
    return Check(**common, rule="paired", regressed=regressed, delta=d.delta, delta_lo=d.lo, delta_hi=d.hi, p=d.p,
                 level=comparison.level)


def compare(baseline: Baseline, root: Path, tolerance: float = 0.0, relative: bool = False,
            judge: str = "tolerance", config: IntervalConfig = IntervalConfig()) -> list[Check]:
    """Each baseline entry against the current file, by ``judge`` (``JUDGES``; see the module);
    ``relative``: the tolerance is a fraction of the recorded value."""
    if judge not in JUDGES:
        raise InputError(f"unknown judge {judge!r}; choose one of {JUDGES}")
    checks, current_ratios = [], {}
    for entry in baseline.entries:
        recorded, current = float(entry["value"]), read_value(root, entry["file"], entry["key"])
        common = {"file": entry["file"], "key": entry["key"], "baseline": recorded, "current": current,
                  "better": entry["better"]}
        note = ""
        if judge == "interval":
            where = ratios_path(entry["file"])
            if where not in current_ratios:
                current_ratios[where] = ratios_at(root / where)
            paired = _paired(common, entry, baseline.ratios.get(where), current_ratios[where], config)
            if isinstance(paired, Check):
                checks.append(paired)
                continue
            note = paired or ""
            if "ci_lo" in entry:
                lo, hi = float(entry["ci_lo"]), float(entry["ci_hi"])
                outside = current > hi if entry["better"] == "lower" else current < lo
                checks.append(Check(**common, rule="interval", regressed=math.isnan(current) or outside,
                                    ci_lo=lo, ci_hi=hi, note=note))
                continue
            note = note or "no interval or ratios recorded"
        allowed = tolerance * abs(recorded) if relative else tolerance
        regressed = math.isnan(current) or _worse(entry["better"], recorded, current) > allowed + 1e-12
        checks.append(Check(**common, rule="tolerance", regressed=regressed, allowed=allowed, note=note))
    return checks


def record(baseline: Baseline, root: Path) -> dict:
    """The baseline file with the current values, the intervals the runs logged and the guarded
    metrics' per-item ratios (after a deliberate change)."""
    entries, guarded = [], {}
    for entry in baseline.entries:
        data = _read_json(root, entry["file"])
        updated = {k: v for k, v in entry.items() if k not in ("ci_lo", "ci_hi")}
        updated["value"] = _value(data, root / entry["file"], entry["key"])
        interval = _logged_interval(data, entry["key"])
        if interval is not None:
            updated["ci_lo"], updated["ci_hi"] = interval
        entries.append(updated)
        guarded.setdefault(ratios_path(entry["file"]), []).append(ratio_name(entry))
    ratios = {}
    for where, names in guarded.items():
        found = ratios_at(root / where)
        kept = {name: found.metrics[name] for name in dict.fromkeys(names) if found and name in found.metrics}
        if kept:
            ratios[where] = UtteranceRatios(found.ids, kept).to_json()
    return {"metrics": entries, **({"ratios": ratios} if ratios else {})}
