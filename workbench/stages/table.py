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


COLUMNS = (("wer", "WER %"), ("cer", "CER %"), ("mer", "MER %"), ("pier", "PIER %"), ("b_wer", "B-WER %"),
           ("u_wer", "U-WER %"), ("ker", "KER %"))


def _pct(value) -> str:
    """Undefined metrics (absent or NaN) show as a gap, never as zero."""
    return "–" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{100 * value:.1f}"


def render(rows: list[dict]) -> str:
    header = "| test set | utterances | " + " | ".join(label for _, label in COLUMNS) + " | s/utt |"
    lines = [header, "|---|---:|" + "---:|" * len(COLUMNS) + "---:|"]
    for row in rows:
        cells = " | ".join(_pct(row.get(key)) for key, _ in COLUMNS)
        speed = row.get("seconds_per_utterance")
        lines.append(f"| {row['name']} | {row['utterances']:.0f} | {cells} | {speed:.2f} |" if speed is not None
                     else f"| {row['name']} | {row['utterances']:.0f} | {cells} | – |")
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
