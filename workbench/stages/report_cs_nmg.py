"""Command ``report_cs_nmg``: seed 003's Tables 2 and 3 from the eval_asr metrics files.

Rows follow the experiment YAMLs (``table: 2`` or ``3``, their ``label``), after the untrained
baseline; columns are the error rate and PIER (%) per language pair, as the seed prints them. The
error rate is MER, WER over mixed tokens (CJK characters one token each): whitespace WER means
nothing for unspaced Mandarin, and for Vietnamese–English MER equals WER. Table 3 adds the
near-miss count per utterance of the row's gate from the nearmiss stage's stats. A run that has
not been done shows as a gap ("–"), never as a zero.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from workbench.data.atomic import write_text_atomic
from workbench.stages.common import percent_cell, read_json_or_none
from workbench.training.experiment import load_experiment

NAME = "report_cs_nmg"
HELP = "render seed 003 Tables 2-3 (WER/PIER per pair and variant, NM/utt) from eval_asr metrics"
PAIRS = ("cmn_eng", "vie_eng")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--results", type=Path, default=Path("results/cs_nmg"), help="<variant>/<pair>/eval/metrics.json live here")
    parser.add_argument("--experiments", type=Path, default=Path("experiments/cs_nmg"), help="experiment YAMLs (rows, labels)")
    parser.add_argument("--nearmiss", type=Path, default=Path("results/nearmiss"), help="<pair>/stats.json of the nearmiss stage")
    parser.add_argument("--out", type=Path, default=None, help="also write the Markdown here")


def render(results: Path, experiments: Path, nearmiss: Path) -> str:
    rows = sorted((load_experiment(p) for p in experiments.glob("*.yaml")), key=lambda e: (e.table, e.row, e.name))
    metrics = {(e.name, pair): read_json_or_none(results / e.name / pair / "eval" / "metrics.json") for e in rows for pair in PAIRS}
    stats = {pair: read_json_or_none(nearmiss / pair / "stats.json") for pair in PAIRS}
    lines = []
    for table, title in ((2, "Table 2: training objectives"), (3, "Table 3: near-miss sources and gates (WCE + CL)")):
        members = [e for e in rows if e.table in ((0, 2) if table == 2 else (3,))]
        if table == 3:  # the full method is both tables' reference row
            members = [e for e in rows if e.name == "wce_cl_trilevel"] + members
        header = "| method | " + " | ".join(f"{p} MER | {p} PIER" + (f" | {p} NM/utt" if table == 3 else "") for p in PAIRS) + " |"
        lines += [f"### {title}", "", header, "|---|" + "---:|" * (len(PAIRS) * (3 if table == 3 else 2))]
        for e in members:
            cells = []
            for pair in PAIRS:
                m = metrics[(e.name, pair)] or {}
                cells += [percent_cell(m.get("mer")), percent_cell(m.get("pier"))]
                if table == 3:
                    gate = (stats[pair] or {}).get("gates", {}).get(e.negatives.gate, {})
                    nm = gate.get("nm_per_utt")
                    cells.append("–" if nm is None else f"{nm:.2f}")
            lines.append(f"| {e.label or e.name} | " + " | ".join(cells) + " |")
        if table == 3:
            lines.append("")
            lines.append("NM/utt: negatives per utterance (at most M) that the row's gate keeps from all sources of the pool.")
        lines.append("")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> None:
    table = render(args.results, args.experiments, args.nearmiss)
    print(table, end="")
    if args.out:
        write_text_atomic(args.out, table)
