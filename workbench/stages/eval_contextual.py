"""Stage ``eval_contextual``: the speech LLM under each biasing condition (seed 000 Table 3,
seed 001 Tables 3-4).

For every model given (``--models sft=DIR grpo=DIR``) and condition: NA (no list), GT (the
utterance's annotated hotwords) and top-k (the first k words a retriever ranked for the utterance,
from ``eval_retrieval``'s rankings.jsonl), decode the test set greedily and score CER/WER, B-WER,
U-WER/U-CER, KER and SACC with ``workbench.metrics`` (one alignment). ``joint_conditions`` are
decoded a second time with joint beam search. The retriever's recall@k of the gold hotwords is
reported beside each top-k row. Writes metrics.json, table.md and hypotheses.jsonl; logs to MLflow.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from tqdm import tqdm

from workbench.config import config_to_dict
from workbench.config.stages import EvalContextualConfig
from workbench.data import read_manifest, write_json_atomic, write_text_atomic
from workbench.data.jsonl import read_jsonl
from workbench.metrics import Reference, Scorer
from workbench.retrieval.vocabulary import hotword_key
from workbench.speechllm.data import encoder_states
from workbench.speechllm.decoding import transcribe
from workbench.speechllm.model import load_speechllm
from workbench.speechllm.prompts import PromptConfig, condition_words, rankings_by_id, with_format_of
from workbench.stages.common import add_params_arguments, configure_logging, percent_cell, set_threads, stage_config
from workbench.tracking import make_logger, tracked_run

NAME = "eval_contextual"
HELP = "evaluate speech LLMs under NA / GT / retrieved top-k biasing lists (CER, B-WER, U-CER, KER, SACC), +joint beam search"
CONFIG = (EvalContextualConfig, "eval_contextual")
METRICS = ("wer", "cer", "b_wer", "u_wer", "u_cer", "ker", "sacc")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--manifest", type=Path, required=True, help="test manifest (jsonl) with annotated hotwords")
    parser.add_argument("--models", nargs="+", required=True, metavar="NAME=DIR",
                        help="speech LLMs to evaluate, e.g. sft=results/speechllm/sft/model grpo=results/speechllm/grpo/model")
    parser.add_argument("--rankings", type=Path, default=None,
                        help="eval_retrieval rankings.jsonl (needed for top-k conditions)")
    parser.add_argument("--frames", type=Path, required=True, help="retrieval_frames store holding the test manifest")
    parser.add_argument("--out", type=Path, required=True, help="output directory: metrics.json, table.md, hypotheses.jsonl")
    add_params_arguments(parser, "eval_contextual")


def parse_models(items: list[str]) -> dict[str, Path]:
    out = {}
    for item in items:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise ValueError(f"--models takes NAME=DIR pairs, got {item!r}")
        if name in out:
            raise ValueError(f"--models: {name} given twice")
        out[name] = Path(path)
    return out


def recall_at(gold: list[list[str]], lists: list[tuple[str, ...]]) -> float | None:
    """Share of gold hotwords present in the lists (exact, case-folded)."""
    total = sum(len(g) for g in gold)
    if not total:
        return None
    hits = sum(hotword_key(w) in {hotword_key(x) for x in lst} for g, lst in zip(gold, lists) for w in g)
    return hits / total


def render(results: dict) -> str:
    lines = []
    for model, blocks in results["models"].items():
        lines += [f"### {model}", "", "| condition | decoding | recall | WER | CER | B-WER | U-WER | U-CER | KER | SACC |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
        for decoding, rows in blocks.items():
            for condition, m in rows.items():
                cells = " | ".join(percent_cell(m.get(k)) for k in METRICS)
                lines.append(f"| {condition} | {decoding} | {percent_cell(m.get('list_recall'))} | {cells} |")
        lines.append("")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> None:
    log = configure_logging()
    config = stage_config(EvalContextualConfig, args, "eval_contextual")
    set_threads(config.threads)
    models = parse_models(args.models)
    for condition in (*config.conditions, *config.joint_conditions):
        condition_words(condition, (), ())  # an unknown condition fails before any decoding
    utterances = read_manifest(args.manifest)
    needs_rankings = any(c.startswith("top") for c in (*config.conditions, *config.joint_conditions))
    ranked: dict[str, list[str]] = {}
    if needs_rankings:
        if args.rankings is None:
            raise FileNotFoundError("top-k conditions need --rankings (an eval_retrieval rankings.jsonl)")
        ranked = rankings_by_id(list(read_jsonl(args.rankings)), config.ranking_method)
        if not ranked:
            raise ValueError(f"{args.rankings}: no rows of method {config.ranking_method!r}")
    missing = [u.id for u in utterances if u.hotwords and u.id not in ranked] if needs_rankings else []
    if missing:
        raise ValueError(f"{args.rankings}: no ranking for {len(missing)} test utterance(s) with hotwords, e.g. {missing[:3]}")
    scorer = Scorer(config.normalization)
    references = [Reference.from_utterance(u) for u in utterances]
    gold = [list(u.hotwords or ()) for u in utterances]
    lists = {c: [condition_words(c, u.hotwords or (), ranked.get(u.id, [])) for u in utterances]
             for c in dict.fromkeys((*config.conditions, *config.joint_conditions))}
    runs = [(c, "greedy", config.decoding) for c in config.conditions]
    runs += [(c, "joint", config.joint_decoding) for c in config.joint_conditions]
    logger = make_logger(config.tracking.backend, config.tracking.experiment, "eval-contextual", config.tracking.uri,
                         tags={"stage": "eval_contextual", "study": "speechllm"})
    results: dict = {"utterances": len(utterances), "ranking_method": config.ranking_method,
                     "rankings": str(args.rankings) if args.rankings else None, "models": {}}
    hypotheses = []
    with tracked_run(logger, {"eval_contextual": config_to_dict(config), "models": {k: str(v) for k, v in models.items()}}):
        states = None
        for name, directory in models.items():
            meta = json.loads((directory / "speechllm.json").read_text(encoding="utf-8"))
            if states is None:
                states = encoder_states(args.frames, meta["whisper"], (u.id for u in utterances))
            model = load_speechllm(directory, config.lm).to(config.device).eval()
            blocks: dict[str, dict] = {}
            for condition, decoding, options in runs:
                started = time.perf_counter()
                with tqdm(total=len(utterances), desc=f"{name} {condition} {decoding}", unit="utt") as bar:
                    texts = transcribe(model, [states[u.id] for u in utterances], lists[condition], options,
                                       with_format_of(PromptConfig(), meta.get("prompts")), progress=bar.update)
                seconds = time.perf_counter() - started
                corpus = scorer.score_corpus(zip(references, texts)).as_metrics()
                row = {k: corpus[k] for k in ("wer", "cer", "b_wer", "u_wer", "u_cer", "ker", "sacc", "keywords")}
                row["list_recall"] = recall_at(gold, lists[condition]) if condition != "NA" else None
                row["seconds_per_utterance"] = seconds / max(1, len(utterances))
                blocks.setdefault(decoding, {})[condition] = row
                logger.log_metrics({f"{name}/{decoding}/{condition}/{k}": v for k, v in row.items() if v is not None})
                hypotheses += [{"id": u.id, "model": name, "condition": condition, "decoding": decoding,
                                "list": list(words), "reference": u.text, "hypothesis": t}
                               for u, words, t in zip(utterances, lists[condition], texts)]
                log.info("%s %s %s: WER %.3f KER %.3f (%.1f s/utt)", name, condition, decoding, row["wer"], row["ker"],
                         row["seconds_per_utterance"])
            results["models"][name] = blocks
        args.out.mkdir(parents=True, exist_ok=True)
        write_json_atomic(args.out / "metrics.json", results)
        write_text_atomic(args.out / "hypotheses.jsonl", "".join(json.dumps(h, ensure_ascii=False) + "\n" for h in hypotheses))
        write_text_atomic(args.out / "table.md", render(results))
        logger.log_artifact(args.out / "metrics.json")
        logger.log_artifact(args.out / "table.md")
    print(render(results))
