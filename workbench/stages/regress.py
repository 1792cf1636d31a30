"""``workbench regress``: compare current metrics to a recorded baseline; exit 1 on a regression.

The baseline (JSON) lists the metrics to guard, each with its file, dotted key, recorded value and
which direction is better (``workbench.reporting.regress``). By default (``--judge tolerance``) a
metric regresses when it is worse than the recorded value by more than ``--tolerance`` (absolute;
``--relative`` makes it a fraction of the recorded value). ``--judge interval`` judges against the
noise instead: a paired test on the baseline's recorded per-item ratios and the current
ratios.json (regressed: worse with p < 1 − ``intervals.confidence``), else the baseline run's
logged interval (regressed: outside it on the bad side), else the tolerance; each line names the
rule that decided. A missing file or key is an error naming it (exit 2), never a silent pass.
``--record`` rewrites the baseline's values, intervals and ratios from the current files.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from workbench.data import write_json_atomic
from workbench.reporting.regress import JUDGES, RegressConfig, compare, load_baseline, record
from workbench.runner import Stage, StageContext


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--baseline", type=Path, required=True, help="baseline JSON (see above)")
    parser.add_argument("--judge", choices=JUDGES, default="tolerance",
                        help="tolerance (default): worse by more than --tolerance; interval: a significant paired "
                        "worsening, else outside the baseline's interval (else the tolerance)")
    parser.add_argument("--tolerance", type=float, default=0.0, help="allowed worsening (absolute, default 0)")
    parser.add_argument("--relative", action="store_true", help="the tolerance is a fraction of each recorded value")
    parser.add_argument("--root", type=Path, default=Path("."),
                        help="directory the baseline's file paths are relative to")
    parser.add_argument("--record", action="store_true", help="write the current values into the baseline and exit 0")
    parser.add_argument("--out", type=Path, default=None, help="also write every comparison as JSON here")


def run(context: StageContext) -> int:
    """0: every metric within tolerance (or recorded); 1: a metric regressed (a result, not an error)."""
    args = context.args
    baseline = load_baseline(args.baseline)
    if args.record:
        write_json_atomic(args.baseline, record(baseline, args.root))
        print(f"recorded {len(baseline.entries)} metric(s) into {args.baseline}")
        return 0
    checks = compare(baseline, args.root, args.tolerance, args.relative, args.judge, context.config.intervals)
    for check in checks:
        print(check.line())
    if args.out:
        write_json_atomic(args.out, {"judge": args.judge, "checks": [c.to_json() for c in checks]})
    regressed = [c for c in checks if c.regressed]
    if regressed:
        names = ", ".join(f"{c.file}:{c.key}" + ("" if args.judge == "tolerance" else f" ({c.rule})")
                          for c in regressed)
        print(f"{len(regressed)} of {len(checks)} metric(s) regressed: {names}", file=sys.stderr)
        return 1
    print(f"all {len(checks)} metric(s) within {'tolerance' if args.judge == 'tolerance' else 'noise'}")
    return 0


STAGE = Stage("regress",
              "compare current metrics to a recorded baseline (exit 1 naming each regression); --record updates it",
              add_arguments, run, config=RegressConfig, description=__doc__)
