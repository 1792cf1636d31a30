"""Stage ``eval_asr``: decode a test manifest with a trained adapter (merged into Whisper) and
report WER/MER/PIER; ``--adapter none`` evaluates the untrained seed model (the baseline row).

Greedy decoding without temperature fallback, the same for every variant; encoder outputs from
the ``encode`` stage's cache. Writes hypotheses.jsonl and metrics.json (DVC metrics) and logs an
MLflow run tagged with the study, variant, pair and seed table, which the report reads.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
from tqdm import tqdm

from workbench.asr import load_whisper
from workbench.asr.lora import load_adapter, merge_lora
from workbench.asr.transcribe import TranscribeOptions, transcribe_batch
from workbench.config import config_to_dict
from workbench.config.stages import EvalASRConfig
from workbench.data import batches_by_language, load_audio, read_manifest, write_json_atomic
from workbench.data.jsonl import write_jsonl
from workbench.metrics.scorer import Reference, Scorer, aggregate
from workbench.stages.common import add_params_arguments, configure_logging, set_threads, stage_config
from workbench.asr.encoder_cache import cached_features, open_cache
from workbench.tracking import make_logger, tracked_run
from workbench.training.experiment import load_experiment

NAME = "eval_asr"
HELP = "decode a test manifest with a trained LoRA adapter (or none: the baseline) and report WER/MER/PIER"
CONFIG = (EvalASRConfig, "eval_asr")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--experiment", type=Path, required=True, help="experiment YAML the adapter was trained with")
    parser.add_argument("--manifest", type=Path, required=True, help="test manifest (jsonl)")
    parser.add_argument("--adapter", required=True, help="adapter directory from train_asr, or 'none' for the seed model")
    parser.add_argument("--encoder-cache", type=Path, default=None, help="encode stage output (default: encode here)")
    parser.add_argument("--out", type=Path, required=True, help="directory for hypotheses.jsonl and metrics.json")
    add_params_arguments(parser, "eval_asr")


def run(args: argparse.Namespace) -> None:
    log = configure_logging()
    config = stage_config(EvalASRConfig, args, "eval_asr")
    experiment = load_experiment(args.experiment)
    set_threads(config.threads)
    utterances = read_manifest(args.manifest)
    pair = args.manifest.parent.name
    scorer = Scorer(config.score.normalization, config.score.poi_neighbourhood, config.score.embedded_language)
    logger = make_logger(
        config.tracking.backend, config.tracking.experiment, f"eval-{experiment.name}-{pair}", config.tracking.uri,
        tags={"stage": "eval_asr", "study": "cs_nmg", "variant": experiment.name, "pair": pair,
              "table": str(experiment.table), "label": experiment.label},
    )
    with tracked_run(logger, {"eval_asr": config_to_dict(config), "experiment": config_to_dict(experiment),
                              "adapter": args.adapter, "manifest": str(args.manifest)}):
        model = load_whisper(config.model, config.device)
        cache = open_cache(args.encoder_cache) if args.encoder_cache else None  # bound to the base encoder
        if cache is not None and utterances:
            cached_features(cache, model, [utterances[0].id])  # check the fingerprint before merging
        if args.adapter != "none":
            model = merge_lora(load_adapter(model, args.adapter))  # decoder-only adapter: encoder unchanged
        hypotheses, scored = [], []
        started = time.perf_counter()
        with torch.no_grad(), tqdm(total=len(utterances), desc=f"eval {experiment.name} {pair}", unit="utt") as bar:
            for language, batch in batches_by_language(utterances, config.batch_size, True):
                clips = [load_audio(u.audio_path(args.manifest.parent)) for u in batch]
                features = cached_features(cache, model, [u.id for u in batch]) if cache is not None else None
                results = transcribe_batch(model, clips, TranscribeOptions(language=language, fallback_temperatures=()), features)
                for utt, result in zip(batch, results):
                    scored.append(scorer.score(Reference.from_utterance(utt), result.text))
                    hypotheses.append({"id": utt.id, "reference": utt.text, "hypothesis": result.text})
                bar.update(len(batch))
        corpus = aggregate(scored)
        metrics = {
            "variant": experiment.name, "label": experiment.label, "table": experiment.table, "pair": pair,
            "utterances": corpus.utterances, "wer": corpus.wer, "mer": corpus.mer, "cer": corpus.cer,
            "pier": corpus.pier.pier, "non_poi_rate": corpus.pier.non_poi_rate,
            "pier_excluded_utterances": corpus.pier.excluded_no_poi,
            "seconds": round(time.perf_counter() - started, 2),
        }
        args.out.mkdir(parents=True, exist_ok=True)
        write_jsonl(args.out / "hypotheses.jsonl", hypotheses)
        write_json_atomic(args.out / "metrics.json", metrics)
        logger.log_metrics({k: float(v) for k, v in metrics.items() if isinstance(v, (int, float)) and v == v})
        logger.log_artifact(args.out / "metrics.json")
        log.info("%s %s: WER %.3f MER %.3f PIER %.3f", experiment.name, pair, corpus.wer, corpus.mer, corpus.pier.pier)
