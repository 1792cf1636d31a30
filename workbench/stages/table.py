"""Command ``table``: the baseline results table (Markdown) from evaluate's metrics files.

The same table ``workbench report`` renders from MLflow (``reporting.studies.baseline_table``),
one row per metrics file in the given order.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from workbench.data.atomic import write_text_atomic
from workbench.reporting.results import baseline_from_files
from workbench.runner import Stage, StageContext


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("metrics", nargs="+", type=Path, help="metrics.json files written by `workbench evaluate`")
    parser.add_argument("--out", type=Path, default=None, help="also write the table to this file")


def run(context: StageContext) -> None:
    text = baseline_from_files(context.args.metrics).to_markdown()
    print(text, end="")
    if context.args.out:
        write_text_atomic(context.args.out, text)


STAGE = Stage("table", "render evaluate metrics.json files as a Markdown table (rows: test sets)", add_arguments, run,
              description=__doc__)
