"""Command ``report``: every study as its seed prints it, from the runs of an MLflow tracking store.

Reads the newest FINISHED run of each stage/variant from any tracking URI (``--tracking-uri``,
default $MLFLOW_TRACKING_URI, then ``sqlite:///mlflow.db``) and writes into ``--out``:

- ``report.md``: seed 003 Tables 2-3, seed 000 Tables 1/3, seed 001 Tables 1-4, seed 002's
  retrieval table, the S1/S2 replay table and the baseline, with the plots inlined;
- ``tables/<table>.csv``: the same tables as raw values (rates as fractions);
- ``plots/<plot>.png`` and ``plots/<plot>.csv``: recall@k curves, KER vs k, WER/PIER bars, and the
  plotted points (``dvc plots show`` draws them; the PNGs are DVC image plots too);
- ``main_tables.md``: the seeds' main tables only (what ``make demo`` prints);
- ``summary.json``: runs and filled cells per study.

The rows each study expects come from ``--experiments`` (the experiment YAMLs), so a run that has
not been done is a row of gaps ("–" in Markdown, an empty CSV field), never a zero. Unless
``--no-log``, the report itself is logged as a run (experiment ``report``) with every file as an
artifact, so it can be found next to the runs it summarizes in the MLflow UI.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from workbench.data.atomic import atomic_directory, write_json_atomic, write_text_atomic

NAME = "report"
HELP = "render every study's seed-style tables (Markdown, CSV) and plots (PNG) from MLflow runs; log them to MLflow"
MAIN_TABLES = ("seed003_table2", "seed003_table3", "seed000_table1", "seed001_tables1_2", "seed000_table3",
               "seed001_table3", "seed001_table4", "seed004_s1s2")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from workbench.reporting.studies import STUDIES

    parser.add_argument("--tracking-uri", default=None,
                        help="MLflow tracking URI to read (default: $MLFLOW_TRACKING_URI, then sqlite:///mlflow.db); "
                        "a server (http://host:5000) works the same")
    parser.add_argument("--experiments", type=Path, default=Path("experiments"),
                        help="experiment YAMLs (cs_nmg/, retrieval/): the rows each table expects (default: experiments)")
    parser.add_argument("--studies", nargs="+", choices=list(STUDIES), default=list(STUDIES),
                        help="studies to render (default: all)")
    parser.add_argument("--out", type=Path, default=Path("results/report"), help="output directory (replaced atomically)")
    parser.add_argument("--no-log", action="store_true", help="do not log the report as an MLflow run")
    parser.add_argument("--print", dest="print_tables", choices=("none", "main", "all"), default="main",
                        help="tables to print: the main seed tables (default), all, or none")


def run(args: argparse.Namespace) -> None:
    from workbench.reporting.plots import write_plot
    from workbench.reporting.runs import RunStore
    from workbench.reporting.studies import STUDIES
    from workbench.tracking.loggers import DEFAULT_TRACKING_URI, MLflowLogger

    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # one bar per metrics.json is noise
    uri = args.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI
    store = RunStore(uri)
    experiments = args.experiments if args.experiments.is_dir() else None
    if experiments is None:
        print(f"workbench report: {args.experiments} is not a directory: rows come from the runs alone", file=sys.stderr)
    reports = [STUDIES[name](store, experiments) for name in args.studies]

    sections = ["# Contextual ASR Workbench report", "",
                f"From {len(store.runs)} finished MLflow runs at `{uri}`, {time.strftime('%Y-%m-%d %H:%M:%S %Z')}. "
                "Newest run per stage and variant; rates in %; \"–\" = no run (a gap, never a zero).", ""]
    summary = {"tracking_uri": uri, "runs_in_store": len(store.runs), "studies": {}}
    with atomic_directory(args.out) as out:
        for report in reports:
            sections += [f"## {report.title}", "", f"{report.runs} runs.", ""]
            for table in report.tables:
                sections.append(table.to_markdown())
                write_text_atomic(out / "tables" / f"{table.slug}.csv", table.to_csv())
            for plot in report.plots:
                if not plot.has_data():
                    sections += [f"*{plot.title}: no runs to plot.*", ""]
                    continue
                png, _ = write_plot(plot, out / "plots")
                sections += [f"![{plot.title}](plots/{png.name})", ""]
            summary["studies"][report.name] = {
                "runs": report.runs, "tables": {t.slug: t.filled_cells() for t in report.tables},
                "plots": [p.slug for p in report.plots if p.has_data()],
            }
        write_text_atomic(out / "report.md", "\n".join(sections))
        write_text_atomic(out / "main_tables.md", "\n".join(t.to_markdown() for r in reports for t in r.tables if t.slug in MAIN_TABLES))
        write_json_atomic(out / "summary.json", summary)

    if not args.no_log:
        logger = MLflowLogger("report", "report", uri, tags={"stage": "report"})
        logger.log_params({"studies": ",".join(args.studies), "runs_in_store": len(store.runs)})
        logger.log_metrics({f"{study}.filled_cells": sum(s["tables"].values()) for study, s in summary["studies"].items()})
        for path in sorted(args.out.rglob("*")):
            if path.is_file():
                logger.log_artifact(path, str(path.parent.relative_to(args.out)) if path.parent != args.out else None)
        logger.finish()

    if args.print_tables != "none":
        for report in reports:
            for table in report.tables:
                if args.print_tables == "all" or table.slug in MAIN_TABLES:
                    print(table.to_markdown())
    print(f"report: {args.out / 'report.md'} (tables: {args.out / 'tables'}, plots: {args.out / 'plots'})")
