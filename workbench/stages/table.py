"""Command ``table``: the baseline results table (Markdown) from evaluate's metrics files.

The same table ``workbench report`` renders from MLflow (``reporting.studies.baseline_table``),
one row per metrics file in the given order.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from workbench.reporting.results import baseline_from_files, write_tables
from workbench.runner import Stage, StageContext


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("metrics", nargs="+", type=Path, help="metrics.json files written by `workbench evaluate`")
    parser.add_argument("--out", type=Path, default=None, help="also write the table to this file")


def run(context: StageContext) -> None:
    print(write_tables([baseline_from_files(context.args.metrics)], context.args.out), end="")


STAGE = Stage("table", "render evaluate metrics.json files as a Markdown table (rows: test sets)", add_arguments, run,
              description=__doc__)
