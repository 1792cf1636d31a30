"""Command ``report_cs_nmg``: seed 003's Tables 2 and 3 from the eval_asr metrics files.

The same tables ``workbench report`` renders from MLflow (``reporting.studies.cs_nmg_tables``),
read from the files the pipeline wrote: rows follow the experiment YAMLs (``table: 2`` or ``3``,
their ``label``), columns are MER and PIER (%) per language pair; Table 3 adds the near-misses per
utterance of the row's gate from the nearmiss stage's stats. A run that has not been done shows
as a gap ("–"), never as a zero.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from workbench.reporting.results import cs_nmg_from_files, write_tables
from workbench.runner import Stage, StageContext


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--results", type=Path, required=True,
                        help="<variant>/<pair>/eval/metrics.json live here")
    parser.add_argument("--experiments", type=Path, default=Path("experiments/cs_nmg"),
                        help="experiment YAMLs (rows, labels)")
    parser.add_argument("--nearmiss", type=Path, required=True,
                        help="<pair>/stats.json of the nearmiss stage")
    parser.add_argument("--out", type=Path, default=None, help="also write the Markdown here")


def run(context: StageContext) -> None:
    args = context.args
    print(write_tables(cs_nmg_from_files(args.results, args.experiments, args.nearmiss), args.out), end="")


STAGE = Stage("report_cs_nmg",
              "render seed 003 Tables 2-3 (WER/PIER per pair and variant, NM/utt) from eval_asr metrics",
              add_arguments, run, description=__doc__)
