"""Stage ``eval_contextual``: the speech LLM under each biasing condition (seed 000 Table 3,
seed 001 Tables 3-4), on the test set or on any corpus with hotwords.

Models: the untouched Whisper (``vanilla``: seed 000's Vanilla row under NA, zero-shot prompt
biasing under the lists) and every ``--models NAME=DIR`` (SFT, GRPO). Conditions: NA (no list), GT
(the utterance's hotwords) and top-k (a retriever's first k words: ``--rankings`` from
``eval_retrieval``, or with ``--vocabulary`` the phonetic baseline queried with the vanilla 1-best).
Greedy, and joint beam search for ``joint_conditions``; CER/WER, B-WER, U-WER/U-CER, KER, SACC and
the lists' recall, each with its bootstrap interval (``workbench.speechllm.evaluation``). Writes
metrics.json, ratios.json (per-utterance rates for paired comparisons), table.md and
hypotheses.jsonl; logs to MLflow. On a new corpus, one command:
``workbench eval_contextual --manifest M --vocabulary V --frames DIR --encode --out OUT``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from workbench.data import read_manifest, write_text_atomic
from workbench.data.jsonl import write_jsonl
from workbench.features import PADDED, Layout
from workbench.features.provision import fill_store
from workbench.runner import Stage, StageContext
from workbench.speechllm.backbone import read_speechllm_meta
from workbench.speechllm.evaluation import ContextualEvaluation, evaluate_contextual, list_rankings, parse_models
from workbench.speechllm.options import EvalContextualConfig


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--manifest", type=Path, required=True, help="test manifest (jsonl) with annotated hotwords")
    parser.add_argument("--models", nargs="*", default=[], metavar="NAME=DIR",
                        help="speech LLMs beside the vanilla Whisper, e.g. sft=results/speechllm/sft/model")
    parser.add_argument("--rankings", type=Path, default=None, help="eval_retrieval rankings.jsonl: the top-k lists")
    parser.add_argument("--vocabulary", type=Path, nargs="+", default=None,
                        help="without --rankings: hotword lists the phonetic baseline ranks per utterance")
    parser.add_argument("--encode", action="store_true", help="first encode what the padded store --frames lacks")
    parser.add_argument("--frames", type=Path, nargs="+", required=True,
                        help="feature stores holding the manifest: each model reads the one of its backbone's "
                        "layout (encode --layout padded for whisper, own for adapter_lm)")
    parser.add_argument("--out", type=Path, required=True,
                        help="output directory: metrics.json, ratios.json, table.md, hypotheses.jsonl")


def run(context: StageContext) -> None:
    args, config = context.args, context.config
    models = parse_models(args.models)
    utterances = read_manifest(args.manifest)
    if args.encode:  # the vanilla checkpoint's padded store (or the first model's)
        checkpoint = config.vanilla or read_speechllm_meta(next(iter(models.values())))["whisper"]
        _, missing, stored = fill_store(args.frames[0], Layout(PADDED), [args.manifest], checkpoint, config.device)
        with context.progress(missing, "encode") as bar:
            for count in stored:
                bar.update(count)
    ranked = list_rankings(args.rankings, args.vocabulary, utterances, args.frames, config)
    source = args.rankings or (args.vocabulary or [None])[0]  # where the top-k lists come from
    evaluation = ContextualEvaluation(len(utterances), config.ranking_method, str(source) if source else None)
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


STAGE = Stage("eval_contextual", "evaluate the vanilla Whisper and speech LLMs under NA / GT / top-k biasing lists "
              "(CER, B-WER, U-CER, KER, SACC), +joint beam; any corpus", add_arguments, run,
              config=EvalContextualConfig, description=__doc__)
