"""Command ``compare``: two systems' hypotheses on the same references, metric by metric, with
bootstrap confidence intervals and a paired significance test of Δ = B − A.

References and hypotheses are read as ``workbench score`` reads them (every reference id needs a
hypothesis in both files). Both systems are resampled over the same utterances (params section
``compare``: ``intervals.resamples``, ``intervals.seed``, ``intervals.confidence``,
``intervals.test``; ``score.*`` as in ``score``). With ``--out DIR``: ``DIR/compare.json`` and
``DIR/compare.csv`` (columns ``_lo``/``_hi``/``_p``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from workbench.data.atomic import write_json_atomic, write_text_atomic
from workbench.metrics.inputs import read_pairs
from workbench.metrics.intervals import CORPUS_RATES, compare_corpora
from workbench.metrics.options import CompareConfig
from workbench.metrics.scorer import Scorer
from workbench.reporting.comparison import comparison_data, comparison_grid, comparison_json
from workbench.runner import Stage, StageContext
from workbench.text.hotwords import read_hotword_list

METRICS = CORPUS_RATES


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--ref", type=Path, required=True, help="reference jsonl (manifest or id/text records)")
    parser.add_argument("--hyp-a", type=Path, required=True, help="system A's hypotheses (the baseline)")
    parser.add_argument("--hyp-b", type=Path, required=True, help="system B's hypotheses (Δ = B − A)")
    parser.add_argument("--hotwords", type=Path,
                        help="bias phrase list, one a line (default: each utterance's hotwords)")
    parser.add_argument("--metrics", nargs="+", choices=METRICS, default=list(METRICS), help="metrics to show")
    parser.add_argument("--out", type=Path, help="directory for compare.json and compare.csv")


def run(context: StageContext) -> None:
    args, config = context.args, context.config
    pairs_a, pairs_b = read_pairs(args.ref, args.hyp_a), read_pairs(args.ref, args.hyp_b)
    phrases = list(read_hotword_list(args.hotwords)) if args.hotwords else None
    scorer = Scorer.from_config(config.score, phrases)
    comparison = compare_corpora(scorer.score_corpus(pairs_a), scorer.score_corpus(pairs_b), config.intervals)
    print(comparison_grid(comparison, args.metrics).to_markdown(), end="")
    if args.out:
        write_json_atomic(args.out / "compare.json", comparison_json(comparison, args.metrics))
        write_text_atomic(args.out / "compare.csv", comparison_data(comparison, args.metrics).to_csv())


STAGE = Stage("compare", "compare two hypothesis files on the same references: Δ per metric with CI and p-value",
              add_arguments, run, config=CompareConfig, description=__doc__)
