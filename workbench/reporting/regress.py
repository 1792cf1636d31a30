"""Guarding metrics against a recorded baseline (``workbench regress``).

The baseline (JSON) lists the metrics to guard, each with where it lives, its recorded value and
which direction is better::

    {"metrics": [
      {"file": "results/baseline/en_entities/metrics.json", "key": "wer", "value": 0.098, "better": "lower"},
      {"file": "results/retrieval/phonetic/eval/metrics.json", "key": "lists.phonetic.exact@1_recall",
       "value": 0.355, "better": "higher"}]}

``key`` is a dotted path into the file's JSON (a part holding dots is written in brackets:
``a.[b.c].d``). A metric regresses when it is worse than the recorded value by more than the
tolerance. A missing or unreadable file or key is a :class:`BaselineError` naming it, never a
silent pass.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

from workbench.errors import InputError


class BaselineError(InputError):
    """A baseline, or a metrics file it points to, that cannot be read or lacks the metric."""


@dataclass(frozen=True)
class Check:
    file: str
    key: str
    baseline: float
    current: float
    better: str
    allowed: float

    @property
    def regressed(self) -> bool:
        worse = self.baseline - self.current if self.better == "higher" else self.current - self.baseline
        return math.isnan(self.current) or worse > self.allowed + 1e-12

    def to_json(self) -> dict:
        return {**asdict(self), "regressed": self.regressed}

    def line(self) -> str:
        mark = "REGRESSED" if self.regressed else "ok"
        return (f"{mark:9s} {self.file}:{self.key}  baseline {self.baseline:.4f}  now {self.current:.4f}  "
                f"({self.better} is better, tolerance {self.allowed:.4f})")


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


def read_value(root: Path, file: str, key: str) -> float:
    path = root / file
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BaselineError(f"{path}: metrics file missing (has the stage that writes it run?)") from None
    except ValueError as error:
        raise BaselineError(f"{path}: not JSON ({error})") from None
    node = data
    for part in split_key(key):
        if not isinstance(node, dict) or part not in node:
            raise BaselineError(f"{path}: no metric {key!r} (missing {part!r})")
        node = node[part]
    if not isinstance(node, (int, float)) or isinstance(node, bool):
        raise BaselineError(f"{path}: metric {key!r} is {node!r}, not a number")
    return float(node)


def load_baseline(path: Path) -> list[dict]:
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))["metrics"]
    except FileNotFoundError:
        raise BaselineError(f"{path}: baseline missing") from None
    except (ValueError, KeyError, TypeError) as error:
        raise BaselineError(f"{path}: not a baseline (a JSON object with a 'metrics' list): {error}") from None
    for index, entry in enumerate(entries):
        missing = [f for f in ("file", "key", "value", "better") if f not in entry]
        if missing or entry.get("better") not in ("higher", "lower"):
            raise BaselineError(f"{path}: metrics[{index}] needs file, key, value and better (higher|lower); "
                                f"got {entry}")
    return entries


def compare(entries: list[dict], root: Path, tolerance: float = 0.0, relative: bool = False) -> list[Check]:
    """Each baseline entry against the current file; ``relative``: the tolerance is a fraction of the recorded value."""
    checks = []
    for entry in entries:
        recorded = float(entry["value"])
        allowed = tolerance * abs(recorded) if relative else tolerance
        checks.append(Check(entry["file"], entry["key"], recorded, read_value(root, entry["file"], entry["key"]),
                            entry["better"], allowed))
    return checks


def record(entries: list[dict], root: Path) -> list[dict]:
    """The entries with their values replaced by the current files' (after a deliberate change)."""
    return [{**entry, "value": read_value(root, entry["file"], entry["key"])} for entry in entries]
