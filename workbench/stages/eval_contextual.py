"""Stage ``eval_contextual``: the speech LLM under each biasing condition (seed 000 Table 3,
seed 001 Tables 3-4).

For every model given (``--models sft=DIR grpo=DIR``), and the untrained Whisper (``vanilla``: seed
000 Table 3's Vanilla row, and zero-shot prompt biasing under the list conditions), and condition: NA (no list), GT (the
utterance's annotated hotwords) and top-k (the first k words a retriever ranked for the utterance,
from ``eval_retrieval``'s rankings.jsonl), decode the test set greedily and score CER/WER, B-WER,
U-WER/U-CER, KER and SACC with ``workbench.metrics`` (one alignment). ``joint_conditions`` are
decoded a second time with joint beam search. The retriever's recall@k of the gold hotwords is
reported beside each top-k row (``workbench.speechllm.evaluation``). Every rate has its bootstrap
interval (``<metric>_ci_lo``/``_ci_hi``). Writes metrics.json, ratios.json (per-utterance rates for
paired comparisons), table.md and hypotheses.jsonl; logs to MLflow.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from workbench.data import read_manifest, write_text_atomic
from workbench.data.jsonl import write_jsonl
from workbench.runner import Stage, StageContext
from workbench.speechllm.evaluation import ContextualEvaluation, evaluate_contextual, parse_models, read_rankings
from workbench.speechllm.options import EvalContextualConfig


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--manifest", type=Path, required=True, help="test manifest (jsonl) with annotated hotwords")
    parser.add_argument("--models", nargs="+", required=True, metavar="NAME=DIR",
                        help="speech LLMs to evaluate, e.g. sft=results/speechllm/sft/model "
                        "grpo=results/speechllm/grpo/model")
    parser.add_argument("--rankings", type=Path, default=None,
                        help="eval_retrieval rankings.jsonl (needed for top-k conditions)")
    parser.add_argument("--frames", type=Path, nargs="+", required=True,
                        help="feature stores holding the test manifest: each model reads the one of its backbone's "
                        "layout (encode --layout padded for whisper, own for adapter_lm)")
    parser.add_argument("--out", type=Path, required=True,
                        help="output directory: metrics.json, ratios.json, table.md, hypotheses.jsonl")


def run(context: StageContext) -> None:
    args, config = context.args, context.config
    models = parse_models(args.models)
    utterances = read_manifest(args.manifest)
    ranked = read_rankings(args.rankings, config, utterances)
    rankings = str(args.rankings) if args.rankings else None
    evaluation = ContextualEvaluation(len(utterances), config.ranking_method, rankings)
    models_param = {"models": {name: str(directory) for name, directory in models.items()}}
    with context.tracked("eval-contextual", {"study": "speechllm"}, models_param) as run:
        count = len(models) + (config.vanilla is not None)
        with context.progress(count * len(config.runs) * len(utterances), "eval_contextual") as bar:
            for result in evaluate_contextual(models, utterances, args.frames, ranked, config, bar.update,
                                              args.manifest.parent):
                evaluation.results.append(result)
                run.log_metrics(result.tracked_metrics())
                context.log.info("%s %s %s: WER %.3f KER %.3f (%.1f s/utt)", result.model, result.condition,
                                 result.decoding, result.scores["wer"], result.scores["ker"],
                                 result.scores["seconds_per_utterance"])
        args.out.mkdir(parents=True, exist_ok=True)
        context.write_json(args.out / "metrics.json", evaluation.metrics())
        context.write_json(args.out / "ratios.json", evaluation.ratios().to_json())  # per utterance: paired Δ
        write_jsonl(args.out / "hypotheses.jsonl", evaluation.hypotheses())
        write_text_atomic(args.out / "table.md", evaluation.markdown())
        context.publish(args.out / "table.md")
    print(evaluation.markdown())


STAGE = Stage("eval_contextual", "evaluate speech LLMs under NA / GT / retrieved top-k biasing lists (CER, B-WER, "
              "U-CER, KER, SACC), +joint beam search", add_arguments, run, config=EvalContextualConfig,
              description=__doc__)
