"""Command ``table``: the baseline results table (Markdown) from evaluate's metrics files."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

from workbench.data.atomic import write_text_atomic

NAME = "table"
HELP = "render evaluate metrics.json files as a Markdown table (rows: test sets)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("metrics", nargs="+", type=Path, help="metrics.json files written by `workbench evaluate`")
    parser.add_argument("--out", type=Path, default=None, help="also write the table to this file")


def _pct(value: float) -> str:
    return "–" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{100 * value:.1f}"


def render(rows: list[dict]) -> str:
    lines = [
        "| test set | utterances | WER % | CER % | MER % | s/utt |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(
            f"| {row['name']} | {row['utterances']:.0f} | {_pct(row['wer'])} | {_pct(row['cer'])} | "
            f"{_pct(row['mer'])} | {row.get('seconds_per_utterance', float('nan')):.2f} |"
        )
    return "\n".join(lines) + "\n"


def run(args: argparse.Namespace) -> None:
    rows = []
    for path in args.metrics:
        try:
            rows.append(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, json.JSONDecodeError) as error:
            raise SystemExit(f"{path}: cannot read metrics: {error}")
    table = render(rows)
    print(table, end="")
    if args.out:
        write_text_atomic(args.out, table)
