"""Command ``report_retrieval``: the retrieval studies as the seeds print them, from eval_retrieval's
metrics files.

- Seed 000 Table 1 (CLAR loss ablation): R@1/5/10, exact match, on the table vocabulary.
- Seed 001 Tables 1-2 (GLCLAP, +RADA, +Fuzzy Matching): recall at top-1/2/5/10, substring match.
- Retrievers side by side with the phonetic baseline, alone and fused: R@1 and F1@1 for every
  vocabulary size (the test's own hotwords up to 100k words).
- Seed 002 (CLSR) long-form Q→C / C→Q R@k.
A run that has not been done shows as a gap ("–"), never as a zero.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from workbench.data.atomic import write_text_atomic
from workbench.stages.common import percent_cell, read_json_or_none
from workbench.retrieval.experiment import load_retriever_experiment

NAME = "report_retrieval"
HELP = "render the retrieval tables (seed 000 Table 1, seed 001 Tables 1-2, scale sweep, CLSR long-form) from eval_retrieval"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--results", type=Path, default=Path("results/retrieval"), help="<variant>/eval/metrics.json live here")
    parser.add_argument("--experiments", type=Path, default=Path("experiments/retrieval"), help="experiment YAMLs (rows, labels)")
    parser.add_argument("--vocabulary", default="lists", help="the vocabulary setting the ablation tables report")
    parser.add_argument("--out", type=Path, default=None, help="also write the Markdown here")


def _get(metrics: dict | None, *keys):
    for key in keys:
        if not isinstance(metrics, dict) or key not in metrics:
            return None
        metrics = metrics[key]
    return metrics


def render(results: Path, experiments: Path, vocabulary: str = "lists") -> str:
    rows = sorted((load_retriever_experiment(p) for p in experiments.glob("*.yaml")), key=lambda e: (e.table, e.row, e.name))
    metrics = {e.name: read_json_or_none(results / e.name / "eval" / "metrics.json") for e in rows}
    phonetic = read_json_or_none(results / "phonetic" / "eval" / "metrics.json")
    size = next((m["vocabularies"].get(vocabulary) for m in [phonetic, *metrics.values()] if m), None)
    where = f"{vocabulary} vocabulary ({size} words)" if size else f"{vocabulary} vocabulary"
    lines: list[str] = []

    def table(title: str, members, mode: str, ks, scorers=("learned",)):
        lines.extend([f"### {title}", "", "| method | scorer | words | " + " | ".join(f"R@{k}" for k in ks) + " | F1@1 |",
                      "|---|---|---:|" + "---:|" * (len(ks) + 1)])
        words = lambda m: _get(m, "vocabularies", vocabulary) or "–"  # noqa: E731 (RADA rows: a filtered list)
        lines.append(f"| phonetic baseline (ASR 1-best) | phonetic | {words(phonetic)} | " + " | ".join(
            percent_cell(_get(phonetic, vocabulary, "phonetic", f"{mode}@{k}_recall")) for k in ks)
            + f" | {percent_cell(_get(phonetic, vocabulary, 'phonetic', 'exact@1_f1'))} |")
        # RADA rows rank a filtered list: the baseline on that same list, from their own evaluation
        filtered = {}
        for e in members:
            m = metrics[e.name]
            if m and m.get("rada") and words(m) != words(phonetic):
                filtered.setdefault(words(m), m)
        for count, m in filtered.items():
            lines.append(f"| phonetic baseline, RADA-filtered lists | phonetic | {count} | " + " | ".join(
                percent_cell(_get(m, vocabulary, "phonetic", f"{mode}@{k}_recall")) for k in ks)
                + f" | {percent_cell(_get(m, vocabulary, 'phonetic', 'exact@1_f1'))} |")
        for e in members:
            for scorer in scorers:
                cells = [percent_cell(_get(metrics[e.name], vocabulary, scorer, f"{mode}@{k}_recall")) for k in ks]
                lines.append(f"| {e.label or e.name} | {scorer} | {words(metrics[e.name])} | " + " | ".join(cells)
                             + f" | {percent_cell(_get(metrics[e.name], vocabulary, scorer, 'exact@1_f1'))} |")
        lines.append("")

    table(f"Seed 000 Table 1: CLAR loss ablation (exact R@k, {where})",
          [e for e in rows if e.table == "clar"], "exact", (1, 5, 10), ("learned", "fused"))
    table(f"Seed 001 Tables 1-2: GLCLAP, +RADA, +Fuzzy Matching (substring recall, {where})",
          [e for e in rows if e.table == "glclap"], "substring", (1, 2, 5, 10), ("learned", "fused"))
    table(f"Seed 002: CLSR (exact R@k, {where})", [e for e in rows if e.table == "clsr"], "exact", (1, 5, 10), ("learned", "fused"))

    settings = list((phonetic or next((m for m in metrics.values() if m), {}) or {}).get("vocabularies", {}).items())
    if settings:
        lines += ["### Scale: exact R@1 by vocabulary size (gold + lists + CMUdict distractors)", "",
                  "| method | scorer | " + " | ".join(f"{name} ({count})" for name, count in settings) + " |",
                  "|---|---|" + "---:|" * len(settings)]
        lines.append("| phonetic baseline | phonetic | " + " | ".join(
            percent_cell(_get(phonetic, name, "phonetic", "exact@1_recall")) for name, _ in settings) + " |")
        for e in rows:
            for scorer in ("learned", "fused"):
                lines.append(f"| {e.label or e.name} | {scorer} | " + " | ".join(
                    percent_cell(_get(metrics[e.name], name, scorer, "exact@1_recall")) for name, _ in settings) + " |")
        lines.append("")
    longform = [(e, _get(metrics[e.name], "longform")) for e in rows if e.method in ("glclap", "clsr")]
    if longform:
        lines += ["### Seed 002 style long-form retrieval (test clips joined, fixed windows): Q→C / C→Q R@k", "",
                  "| method | Q→C R@1 | Q→C R@5 | Q→C R@10 | C→Q R@1 | C→Q R@5 | C→Q R@10 |", "|---|" + "---:|" * 6]
        for e, m in longform:
            lines.append(f"| {e.label or e.name} | " + " | ".join(
                percent_cell(_get(m, f"{d}_r@{k}")) for d in ("q2c", "c2q") for k in (1, 5, 10)) + " |")
        lines.append("")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> None:
    table = render(args.results, args.experiments, args.vocabulary)
    print(table, end="")
    if args.out:
        write_text_atomic(args.out, table)
