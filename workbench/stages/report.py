"""Command ``report``: every study as its seed prints it, from the runs of an MLflow tracking store.

Reads the newest FINISHED run of each stage/variant from any tracking URI (``--tracking-uri``,
default $MLFLOW_TRACKING_URI, then ``sqlite:///mlflow.db``) and writes into ``--out``: ``report.md``
(every study's tables with the plots inlined), ``tables/<table>.csv`` (raw values, rates as
fractions), ``plots/<plot>.png`` and ``.csv`` (the plotted points; DVC plots), ``main_tables.md``
(the seeds' main tables, what ``make demo`` prints) and ``summary.json`` (runs and filled cells).

The rows each study expects come from ``--experiments`` (the experiment YAMLs), so a run that has
not been done is a row of gaps ("–" in Markdown, an empty CSV field), never a zero. Unless
``--no-log``, the report itself is logged as a run (experiment ``report``) with every file as an
artifact.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from workbench.data.atomic import atomic_directory, write_json_atomic, write_text_atomic
from workbench.reporting.studies import STUDIES
from workbench.runner import Stage, StageContext


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--tracking-uri", default=None,
                        help="MLflow tracking URI to read (default: $MLFLOW_TRACKING_URI, then sqlite:///mlflow.db); "
                        "a server (http://host:5000) works the same")
    parser.add_argument("--experiments", type=Path, default=Path("experiments"),
                        help="experiment YAMLs (cs_nmg/, retrieval/): the rows each table expects "
                        "(default: experiments)")
    parser.add_argument("--studies", nargs="+", choices=list(STUDIES), default=list(STUDIES),
                        help="studies to render (default: all)")
    parser.add_argument("--out", type=Path, required=True, help="output directory (replaced atomically)")
    parser.add_argument("--no-log", action="store_true", help="do not log the report as an MLflow run")
    parser.add_argument("--print", dest="print_tables", choices=("none", "main", "all"), default="main",
                        help="tables to print: the main seed tables (default), all, or none")


def run(context: StageContext) -> None:
    from workbench.reporting.plots import write_plot
    from workbench.reporting.report import build_report
    from workbench.reporting.runs import RunStore
    from workbench.tracking.loggers import DEFAULT_TRACKING_URI, MLflowLogger

    args = context.args
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # one bar per metrics.json is noise
    uri = args.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI
    experiments = args.experiments if args.experiments.is_dir() else None
    if experiments is None:
        context.log.warning("%s is not a directory: rows come from the runs alone", args.experiments)
    report = build_report(RunStore(uri), experiments, args.studies)
    with atomic_directory(args.out) as out:
        for table in report.tables():
            write_text_atomic(out / "tables" / f"{table.slug}.csv", table.to_csv())
        for plot in report.plots():
            write_plot(plot, out / "plots")
        write_text_atomic(out / "report.md", report.markdown())
        write_text_atomic(out / "main_tables.md", "\n".join(t.to_markdown() for t in report.main_tables()))
        write_json_atomic(out / "summary.json", report.summary())
    if not args.no_log:
        logger = MLflowLogger("report", "report", uri, tags={"stage": "report"})
        logger.log_params({"studies": ",".join(args.studies), "runs_in_store": report.runs_in_store})
        logger.log_metrics(report.tracked_metrics())
        for path in sorted(p for p in args.out.rglob("*") if p.is_file()):
            logger.log_artifact(path, str(path.parent.relative_to(args.out)) if path.parent != args.out else None)
        logger.finish()
    if args.print_tables != "none":
        for table in report.main_tables(everything=args.print_tables == "all"):
            print(table.to_markdown())
    print(f"report: {args.out / 'report.md'} (tables: {args.out / 'tables'}, plots: {args.out / 'plots'})")


STAGE = Stage("report", "render every study's seed-style tables (Markdown, CSV) and plots (PNG) from MLflow runs; "
              "log them to MLflow", add_arguments, run, description=__doc__)
