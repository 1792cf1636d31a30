"""``workbench regress``: compare current metrics to a recorded baseline; exit 1 on a regression.

The baseline (JSON) lists the metrics to guard, each with where it lives, its recorded value and
which direction is better::

    {"metrics": [
      {"file": "results/baseline/en_entities/metrics.json", "key": "wer", "value": 0.098, "better": "lower"},
      {"file": "results/retrieval/phonetic/eval/metrics.json", "key": "lists.phonetic.exact@1_recall",
       "value": 0.355, "better": "higher"}]}

``key`` is a dotted path into the file's JSON. A metric regresses when it is worse than the
recorded value by more than ``--tolerance`` (absolute; ``--relative`` makes it a fraction of the
recorded value). A missing file or key is an error naming it, never a silent pass. ``--record``
rewrites the baseline's values from the current files (after a deliberate change).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

from workbench.data import write_json_atomic

NAME = "regress"
HELP = "compare current metrics to a recorded baseline (exit 1 naming each regression); --record updates it"


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


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--baseline", type=Path, required=True, help="baseline JSON (see above)")
    parser.add_argument("--tolerance", type=float, default=0.0, help="allowed worsening (absolute, default 0)")
    parser.add_argument("--relative", action="store_true", help="the tolerance is a fraction of each recorded value")
    parser.add_argument("--root", type=Path, default=Path("."), help="directory the baseline's file paths are relative to")
    parser.add_argument("--record", action="store_true", help="write the current values into the baseline and exit 0")
    parser.add_argument("--out", type=Path, default=None, help="also write every comparison as JSON here")


def read_value(root: Path, file: str, key: str) -> float:
    path = root / file
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: metrics file missing (has the stage that writes it run?)") from None
    except ValueError as error:
        raise ValueError(f"{path}: not JSON ({error})") from None
    node = data
    for part in _split(key):
        if not isinstance(node, dict) or part not in node:
            raise KeyError(f"{path}: no metric {key!r} (missing {part!r})")
        node = node[part]
    if not isinstance(node, (int, float)) or isinstance(node, bool):
        raise ValueError(f"{path}: metric {key!r} is {node!r}, not a number")
    return float(node)


def _split(key: str) -> list[str]:
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


def load_baseline(path: Path) -> list[dict]:
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))["metrics"]
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: baseline missing") from None
    except (ValueError, KeyError, TypeError) as error:
        raise ValueError(f"{path}: not a baseline (a JSON object with a 'metrics' list): {error}") from None
    for index, entry in enumerate(entries):
        missing = [f for f in ("file", "key", "value", "better") if f not in entry]
        if missing or entry.get("better") not in ("higher", "lower"):
            raise ValueError(f"{path}: metrics[{index}] needs file, key, value and better (higher|lower); got {entry}")
    return entries


def run(args: argparse.Namespace) -> None:
    try:
        _run(args)
    except (KeyError, ValueError) as error:  # a bad baseline or metrics file: what and where, exit 2
        print(f"workbench regress: {error.args[0] if error.args else error}", file=sys.stderr)
        raise SystemExit(2) from None


def _run(args: argparse.Namespace) -> None:
    entries = load_baseline(args.baseline)
    if args.record:
        for entry in entries:
            entry["value"] = read_value(args.root, entry["file"], entry["key"])
        write_json_atomic(args.baseline, {"metrics": entries})
        print(f"recorded {len(entries)} metric(s) into {args.baseline}")
        return
    checks = []
    for entry in entries:
        recorded = float(entry["value"])
        allowed = args.tolerance * abs(recorded) if args.relative else args.tolerance
        checks.append(Check(entry["file"], entry["key"], recorded, read_value(args.root, entry["file"], entry["key"]),
                            entry["better"], allowed))
    for check in checks:
        mark = "REGRESSED" if check.regressed else "ok"
        print(f"{mark:9s} {check.file}:{check.key}  baseline {check.baseline:.4f}  now {check.current:.4f}  "
              f"({check.better} is better, tolerance {check.allowed:.4f})")
    if args.out:
        write_json_atomic(args.out, {"checks": [{**asdict(c), "regressed": c.regressed} for c in checks]})
    regressed = [c for c in checks if c.regressed]
    if regressed:
        names = ", ".join(f"{c.file}:{c.key}" for c in regressed)
        print(f"{len(regressed)} of {len(checks)} metric(s) regressed: {names}", file=sys.stderr)
        raise SystemExit(1)
    print(f"all {len(checks)} metric(s) within tolerance")
