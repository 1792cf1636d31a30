"""Command ``report_retrieval``: the retrieval studies as the seeds print them, from eval_retrieval's
metrics files.

The same tables ``workbench report`` renders from MLflow (``reporting.studies.retrieval_tables``):
seed 000 Table 1 (CLAR loss ablation), seed 001 Tables 1-2 (GLCLAP, +RADA, +Fuzzy Matching),
seed 002 (CLSR), the retrievers against the phonetic baseline at every vocabulary size, the
long-form Q→C / C→Q R@k, and the data-scale curve (retrieval_scale's ``<variant>/scale/metrics.json``:
held-out R@k by distinct training words), also drawn into ``--plots`` (PNG with error bars, and CSV).
A run that has not been done shows as a gap ("–"), never as a zero.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from workbench.reporting.plots import write_plot
from workbench.reporting.results import retrieval_from_files, scale_curves_from_files, write_tables
from workbench.reporting.studies import data_scale_plot
from workbench.runner import Stage, StageContext


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--results", type=Path, required=True,
                        help="<variant>/eval/metrics.json live here")
    parser.add_argument("--experiments", type=Path, default=Path("experiments/retrieval"),
                        help="experiment YAMLs (rows, labels)")
    parser.add_argument("--vocabulary", default="lists", help="the vocabulary setting the ablation tables report")
    parser.add_argument("--out", type=Path, default=None, help="also write the Markdown here")
    parser.add_argument("--plots", type=Path, default=None,
                        help="also draw the data-scale curve here (retrieval_data_scale.png and .csv)")


def run(context: StageContext) -> None:
    args = context.args
    print(write_tables(retrieval_from_files(args.results, args.experiments, args.vocabulary), args.out), end="")
    if args.plots is not None:
        png, _ = write_plot(data_scale_plot(scale_curves_from_files(args.results, args.experiments)), args.plots)
        print(f"data-scale curve: {png}")


STAGE = Stage("report_retrieval", "render the retrieval tables (seed 000 Table 1, seed 001 Tables 1-2, scale sweep, "
              "CLSR long-form, data-scale curve) from eval_retrieval and retrieval_scale", add_arguments, run,
              description=__doc__)
