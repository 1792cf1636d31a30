"""Command ``score``: the full metric set for reference/hypothesis jsonl files.

References: a manifest or any jsonl with ``id`` and ``text`` (optional ``language``, ``hotwords``,
``spans``). Hypotheses: jsonl with ``id`` and ``hypothesis`` (or ``text``), e.g. evaluate's
hypotheses.jsonl. Every reference id needs a hypothesis and vice versa; otherwise the command
refuses and lists the missing ids.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from workbench.data.atomic import write_json_atomic
from workbench.data.jsonl import write_jsonl
from workbench.metrics.inputs import read_pairs
from workbench.metrics.options import ScoreConfig
from workbench.metrics.scorer import Scorer
from workbench.reporting.table import Column, Table, format_cell
from workbench.runner import Stage, StageContext
from workbench.text.hotwords import read_hotword_list

METRICS = (
    "wer", "cer", "mer", "sacc", "pier", "non_poi_rate", "pier_excluded_utterances", "b_wer", "u_wer", "b_cer", "u_cer",
    "ker", "digit_error_rate",
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--ref", type=Path, required=True, help="reference jsonl (manifest or id/text records)")
    parser.add_argument("--hyp", type=Path, required=True, help="hypothesis jsonl (id + hypothesis or text)")
    parser.add_argument("--hotwords", type=Path,
                        help="bias phrase list, one a line (default: each utterance's hotwords)")
    parser.add_argument("--metrics", nargs="+", choices=METRICS, default=list(METRICS), help="metrics to print")
    parser.add_argument("--out", type=Path, help="write the corpus metrics as JSON here")
    parser.add_argument("--per-utterance", type=Path, help="write per-utterance counts (jsonl) here")


def metrics_table(metrics: dict[str, float], names) -> Table:
    """One row per metric: rates in %, utterance counts as counts."""
    rows = [[name, format_cell(metrics[name], "count" if name.endswith("utterances") else "percent")] for name in names]
    return Table("score", "score", [Column("metric", "text"), Column("value (rates in %)", "text", align="right")],
                 rows)


def run(context: StageContext) -> None:
    args, config = context.args, context.config
    pairs = read_pairs(args.ref, args.hyp)
    phrases = list(read_hotword_list(args.hotwords)) if args.hotwords else None
    scorer = Scorer.from_config(config, phrases)
    corpus = scorer.score_corpus(pairs, keep_utterances=bool(args.per_utterance))
    metrics = corpus.as_metrics()
    print(metrics_table(metrics, args.metrics).grid(), end="")
    if args.out:
        write_json_atomic(args.out,
                          {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in metrics.items()})
    if args.per_utterance:
        write_jsonl(args.per_utterance, (s.to_json() for s in corpus.per_utterance))


STAGE = Stage("score", "score hypotheses against references: WER/CER/MER, PIER, B-WER/U-WER/U-CER, KER, SACC, digits",
              add_arguments, run, config=ScoreConfig, description=__doc__)
