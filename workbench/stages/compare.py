"""Command ``compare``: two systems metric by metric, with bootstrap confidence intervals and a
paired significance test of Δ = B − A on the same items.

Either two hypothesis files on the same references (``--ref --hyp-a --hyp-b``, read as ``workbench
score`` reads them: every reference id needs a hypothesis in both files; ``score.*`` as in
``score``), or two tracked runs (``--runs A B``), each an MLflow run id (its ``ratios.json``
artifact, from ``--tracking-uri``) or a stage's output directory or ``ratios.json`` file: the
metrics both runs report are paired on their items (``--metrics`` picks some, by the names the
stages log, e.g. ``lists/fused/exact@1_recall``). Params section ``compare``:
``intervals.resamples``, ``intervals.seed``, ``intervals.confidence``, ``intervals.test``. With
``--out DIR``: ``DIR/compare.json`` and ``DIR/compare.csv`` (columns ``_lo``/``_hi``/``_p``).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from workbench.data.atomic import write_json_atomic, write_text_atomic
from workbench.errors import ConfigError
from workbench.metrics.inputs import read_pairs
from workbench.metrics.intervals import compare_corpora
from workbench.metrics.options import CompareConfig
from workbench.metrics.scorer import Scorer
from workbench.reporting.comparison import chosen_metrics, comparison_data, comparison_grid, comparison_json
from workbench.reporting.run_ratios import compare_runs
from workbench.runner import Stage, StageContext
from workbench.text.hotwords import read_hotword_list


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--runs", nargs=2, metavar=("A", "B"),
                        help="two tracked runs (Δ = B − A): MLflow run ids or stage output directories / ratios.json")
    parser.add_argument("--tracking-uri", default=None,
                        help="MLflow tracking URI of --runs ids (default: $MLFLOW_TRACKING_URI, then sqlite:///mlflow.db)")
    parser.add_argument("--ref", type=Path, help="reference jsonl (manifest or id/text records)")
    parser.add_argument("--hyp-a", type=Path, help="system A's hypotheses (the baseline)")
    parser.add_argument("--hyp-b", type=Path, help="system B's hypotheses (Δ = B − A)")
    parser.add_argument("--hotwords", type=Path,
                        help="bias phrase list, one a line (default: each utterance's hotwords; hypothesis files only)")
    parser.add_argument("--metrics", nargs="+", help="metrics to show (default: every metric both systems have)")
    parser.add_argument("--out", type=Path, help="directory for compare.json and compare.csv")


def run(context: StageContext) -> None:
    args, config = context.args, context.config
    files = (args.ref, args.hyp_a, args.hyp_b)
    if (args.runs is not None) == any(files) or not (args.runs or all(files)) or (args.runs and args.hotwords):
        raise ConfigError("give either --runs A B, or --ref with --hyp-a and --hyp-b (and --hotwords only with these)")
    if args.runs:
        os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # one small artifact per run
        comparison = compare_runs(tuple(args.runs), args.metrics, config.intervals, args.tracking_uri)
    else:
        pairs_a, pairs_b = read_pairs(args.ref, args.hyp_a), read_pairs(args.ref, args.hyp_b)
        phrases = list(read_hotword_list(args.hotwords)) if args.hotwords else None
        scorer = Scorer.from_config(config.score, phrases)
        comparison = compare_corpora(scorer.score_corpus(pairs_a), scorer.score_corpus(pairs_b), config.intervals)
    names = chosen_metrics(comparison, args.metrics)
    print(comparison_grid(comparison, names).to_markdown(), end="")
    if args.out:
        write_json_atomic(args.out / "compare.json", comparison_json(comparison, names))
        write_text_atomic(args.out / "compare.csv", comparison_data(comparison, names).to_csv())


STAGE = Stage("compare", "compare two systems (hypothesis files, or tracked runs' ratios): Δ per metric with CI and p",
              add_arguments, run, config=CompareConfig, description=__doc__)
