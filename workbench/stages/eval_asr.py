"""Stage ``eval_asr``: decode a test manifest with a trained adapter (merged into Whisper) and
report WER/MER/PIER; ``--adapter none`` evaluates the untrained seed model (the baseline row).

Greedy decoding without temperature fallback, the same for every variant; encoder outputs from
the ``encode`` stage's feature store. Writes hypotheses.jsonl and metrics.json (DVC metrics) and
logs an MLflow run tagged with the study, variant, pair and seed table, which the report reads.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from workbench.asr import TranscribeOptions, load_whisper
from workbench.asr.encoder_outputs import EncoderOutputs
from workbench.asr.evaluation import transcribe_and_score
from workbench.asr.lora import load_adapter, merge_lora
from workbench.asr.options import EvalASRConfig
from workbench.data import read_manifest
from workbench.data.jsonl import write_jsonl
from workbench.metrics.intervals import interval_metrics
from workbench.metrics.scorer import Scorer
from workbench.runner import Stage, StageContext
from workbench.training.experiment import load_experiment


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--experiment", type=Path, required=True, help="experiment YAML the adapter was trained with")
    parser.add_argument("--manifest", type=Path, required=True, help="test manifest (jsonl)")
    parser.add_argument("--adapter", required=True,
                        help="adapter directory from train_asr, or 'none' for the seed model")
    parser.add_argument("--encoder-cache", type=Path, default=None, help="encode stage output (default: encode here)")
    parser.add_argument("--out", type=Path, required=True, help="directory for hypotheses.jsonl and metrics.json")


def run(context: StageContext) -> None:
    args, config = context.args, context.config
    experiment = load_experiment(args.experiment)
    utterances = read_manifest(args.manifest)
    pair = args.manifest.parent.name
    scorer = Scorer.from_config(config.score)
    tags = {"study": "cs_nmg", "variant": experiment.name, "pair": pair, "table": str(experiment.table),
            "label": experiment.label}
    params = {"experiment": experiment.as_params(), "adapter": args.adapter, "manifest": str(args.manifest)}
    with context.tracked(f"eval-{experiment.name}-{pair}", tags, params) as logger:
        model = load_whisper(config.model, config.device)
        features = None
        if args.encoder_cache is not None:  # bound to the base encoder: checked before the adapter is merged
            features = EncoderOutputs(model, utterances, args.manifest.parent, args.encoder_cache).of_ids
            if utterances:
                features([utterances[0].id])
        if args.adapter != "none":
            model = merge_lora(load_adapter(model, args.adapter))  # decoder-only adapter: encoder unchanged
        with torch.no_grad(), context.progress(len(utterances), f"eval {experiment.name} {pair}") as bar:
            scores = transcribe_and_score(model, utterances, args.manifest.parent, scorer,
                                          TranscribeOptions(fallback_temperatures=()), config.batch_size,
                                          features=features, progress=bar.update)
        corpus, ratios = scores.corpus, scores.ratios()
        metrics = {
            "variant": experiment.name, "label": experiment.label, "table": experiment.table, "pair": pair,
            "utterances": corpus.utterances, "wer": corpus.wer, "mer": corpus.mer, "cer": corpus.cer,
            "pier": corpus.pier.pier, "non_poi_rate": corpus.pier.non_poi_rate,
            "pier_excluded_utterances": corpus.pier.excluded_no_poi, "seconds": round(scores.seconds, 2),
            **interval_metrics(ratios.intervals(config.intervals),
                               ("wer", "mer", "cer", "pier", "non_poi_rate")),
        }
        args.out.mkdir(parents=True, exist_ok=True)
        write_jsonl(args.out / "hypotheses.jsonl", scores.hypotheses(decoder_details=False))
        context.write_json(args.out / "metrics.json", metrics, publish=False)
        context.write_json(args.out / "ratios.json", ratios.to_json())  # per utterance: paired comparisons
        logger.log_metrics({k: float(v) for k, v in metrics.items() if isinstance(v, (int, float)) and v == v})
        context.publish(args.out / "metrics.json")
        context.log.info("%s %s: WER %.3f MER %.3f PIER %.3f", experiment.name, pair, corpus.wer, corpus.mer,
                         corpus.pier.pier)


STAGE = Stage("eval_asr", "decode a test manifest with a trained LoRA adapter (or none: the baseline) and report "
              "WER/MER/PIER", add_arguments, run, config=EvalASRConfig, description=__doc__)
