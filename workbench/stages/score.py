"""Command ``score``: the full metric set for reference/hypothesis jsonl files.

References: a manifest or any jsonl with ``id`` and ``text`` (optional ``language``, ``hotwords``,
``spans``). Hypotheses: jsonl with ``id`` and ``hypothesis`` (or ``text``), e.g. evaluate's
hypotheses.jsonl. Every reference id needs a hypothesis and vice versa; otherwise the command
refuses and lists the missing ids.
"""

from __future__ import annotations

from workbench.errors import InputError

import argparse
import json
import math
from pathlib import Path

from workbench.data.atomic import write_json_atomic
from workbench.data.jsonl import write_jsonl
from workbench.metrics.options import ScoreConfig
from workbench.metrics.scorer import Reference, Scorer
from workbench.stages.common import add_params_arguments, stage_config

NAME = "score"
HELP = "score hypotheses against references: WER/CER/MER, PIER, B-WER/U-WER/U-CER, KER, SACC, digits"
CONFIG = (ScoreConfig, "score")
METRICS = (
    "wer", "cer", "mer", "sacc", "pier", "non_poi_rate", "pier_excluded_utterances", "b_wer", "u_wer", "b_cer", "u_cer",
    "ker", "digit_error_rate",
)


class ScoreInputError(InputError):
    """A reference or hypothesis file line that cannot be scored."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--ref", type=Path, required=True, help="reference jsonl (manifest or id/text records)")
    parser.add_argument("--hyp", type=Path, required=True, help="hypothesis jsonl (id + hypothesis or text)")
    parser.add_argument("--hotwords", type=Path, help="bias phrase list, one a line (default: each utterance's hotwords)")
    parser.add_argument("--metrics", nargs="+", choices=METRICS, default=list(METRICS), help="metrics to print")
    parser.add_argument("--out", type=Path, help="write the corpus metrics as JSON here")
    parser.add_argument("--per-utterance", type=Path, help="write per-utterance counts (jsonl) here")
    add_params_arguments(parser, "score")


def _records(path: Path):
    try:
        handle = open(path, encoding="utf-8")
    except OSError as error:
        raise ScoreInputError(f"{path}: cannot open: {error.strerror}") from None
    with handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                raise ScoreInputError(f"{path}:{number}: not valid JSON: {error.msg}") from None
            if not isinstance(record, dict) or not isinstance(record.get("id"), str):
                raise ScoreInputError(f"{path}:{number}: field 'id' is missing or not a string")
            yield number, record


def read_references(path: Path) -> dict[str, Reference]:
    refs: dict[str, Reference] = {}
    for number, record in _records(path):
        text = record.get("text")
        if not isinstance(text, str):
            raise ScoreInputError(f"{path}:{number}: field 'text' is missing or not a string")
        if record["id"] in refs:
            raise ScoreInputError(f"{path}:{number}: field 'id' duplicates {record['id']!r}")
        spans = tuple((s["start"], s["end"]) for s in record.get("spans", []) or [])
        refs[record["id"]] = Reference(record["id"], text, record.get("language", "en"), tuple(record.get("hotwords", []) or []), spans)
    return refs


def read_hypotheses(path: Path) -> dict[str, str]:
    hyps: dict[str, str] = {}
    for number, record in _records(path):
        text = record.get("hypothesis", record.get("text"))
        if not isinstance(text, str):
            raise ScoreInputError(f"{path}:{number}: field 'hypothesis' (or 'text') is missing or not a string")
        if record["id"] in hyps:
            raise ScoreInputError(f"{path}:{number}: field 'id' duplicates {record['id']!r}")
        hyps[record["id"]] = text
    return hyps


def check_ids(refs: dict, hyps: dict, ref_path: Path, hyp_path: Path) -> None:
    missing_hyp = [i for i in refs if i not in hyps]
    missing_ref = [i for i in hyps if i not in refs]
    if missing_hyp or missing_ref:
        lines = []
        if missing_hyp:
            lines.append(f"{len(missing_hyp)} reference id(s) of {ref_path} have no hypothesis in {hyp_path}: {', '.join(missing_hyp[:20])}")
        if missing_ref:
            lines.append(f"{len(missing_ref)} hypothesis id(s) of {hyp_path} have no reference in {ref_path}: {', '.join(missing_ref[:20])}")
        raise ScoreInputError("ids do not match:\n  " + "\n  ".join(lines))


def format_table(metrics: dict[str, float], names) -> str:
    rows = ["| metric | value |", "|---|---:|"]
    for name in names:
        value = metrics[name]
        shown = "–" if isinstance(value, float) and math.isnan(value) else (
            f"{value:.0f}" if name.endswith("utterances") else f"{100 * value:.2f} %")
        rows.append(f"| {name} | {shown} |")
    return "\n".join(rows) + "\n"


def run(args: argparse.Namespace) -> None:
    config = stage_config(ScoreConfig, args, "score")
    try:
        refs, hyps = read_references(args.ref), read_hypotheses(args.hyp)
        check_ids(refs, hyps, args.ref, args.hyp)
    except ScoreInputError as error:
        raise SystemExit(f"workbench score: {error}")
    phrases = None
    if args.hotwords:
        phrases = [line.strip() for line in args.hotwords.read_text(encoding="utf-8").splitlines() if line.strip()]
        if not phrases:
            raise SystemExit(f"workbench score: {args.hotwords} has no hotwords")
    scorer = Scorer(config.normalization, config.poi_neighbourhood, config.embedded_language, phrases)
    corpus = scorer.score_corpus(((refs[i], hyps[i]) for i in refs), keep_utterances=bool(args.per_utterance))
    metrics = corpus.as_metrics()
    print(format_table(metrics, args.metrics), end="")
    if args.out:
        write_json_atomic(args.out, {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in metrics.items()})
    if args.per_utterance:
        write_jsonl(args.per_utterance, (s.to_json() for s in corpus.per_utterance))
