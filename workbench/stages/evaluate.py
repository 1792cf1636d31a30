"""Stage ``evaluate``: Whisper transcribes a manifest; WER/CER/MER go to a metrics file and MLflow."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from tqdm import tqdm

from workbench.asr import TranscribeOptions, load_whisper, transcribe_batch
from workbench.config import config_to_dict
from workbench.config.stages import EvaluateConfig
from workbench.data import batches_by_language, load_audio, read_manifest, write_json_atomic
from workbench.data.jsonl import write_jsonl
from workbench.metrics.scorer import Reference, Scorer, aggregate
from workbench.stages.common import add_params_arguments, configure_logging, set_threads, stage_config
from workbench.tracking import make_logger, tracked_run

NAME = "evaluate"
HELP = "transcribe a manifest with Whisper and score it (WER/CER/MER); log to DVC metrics and MLflow"

CONFIG = (EvaluateConfig, "evaluate")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--manifest", type=Path, required=True, help="utterance manifest (jsonl) to transcribe")
    parser.add_argument("--out", type=Path, required=True, help="directory for hypotheses.jsonl, errors.jsonl, metrics.json")
    parser.add_argument("--name", default=None, help="run name (default: the manifest's parent directory name)")
    add_params_arguments(parser, "evaluate")


def run(args: argparse.Namespace) -> None:
    log = configure_logging()
    config = stage_config(EvaluateConfig, args, "evaluate")
    set_threads(config.threads)
    name = args.name or args.manifest.parent.name
    utterances = read_manifest(args.manifest)
    if not utterances:
        raise SystemExit(f"{args.manifest}: the manifest has no utterances")
    scorer = Scorer(config.score.normalization, config.score.poi_neighbourhood, config.score.embedded_language)
    logger = make_logger(
        config.tracking.backend, config.tracking.experiment, f"evaluate-{name}", config.tracking.uri,
        tags={"stage": "evaluate", "manifest": str(args.manifest)},
    )
    with tracked_run(logger, {"evaluate": config_to_dict(config), "manifest": str(args.manifest), "name": name}):
        model = load_whisper(config.model, config.device)
        by_language = config.language == "manifest"
        hypotheses, errors, scored_all = [], [], []
        started = time.perf_counter()
        with tqdm(total=len(utterances), desc=f"decode {name}", unit="utt") as bar:
            for language, batch in batches_by_language(utterances, config.batch_size, by_language):
                options = TranscribeOptions(
                    language=language if by_language else config.language, beam_size=config.beam_size,
                    fp16=config.device != "cpu",
                    **({} if config.temperature_fallback else {"fallback_temperatures": ()}),
                )
                clips = [load_audio(u.audio_path(args.manifest.parent)) for u in batch]
                for utt, result in zip(batch, transcribe_batch(model, clips, options)):
                    scored = scorer.score(Reference.from_utterance(utt), result.text)
                    hypotheses.append({
                        "id": utt.id, "reference": utt.text, "hypothesis": result.text, "language": result.language,
                        "avg_logprob": result.avg_logprob, "no_speech_prob": result.no_speech_prob,
                    })
                    errors.append(scored.to_json())
                    scored_all.append(scored)
                bar.update(len(batch))
        elapsed = time.perf_counter() - started
        corpus = aggregate(scored_all)
        metrics = {**{k: v for k, v in corpus.as_metrics().items() if v == v}, "decode_seconds": round(elapsed, 3),
                   "seconds_per_utterance": round(elapsed / len(utterances), 4)}
        args.out.mkdir(parents=True, exist_ok=True)
        write_jsonl(args.out / "hypotheses.jsonl", hypotheses)
        write_jsonl(args.out / "errors.jsonl", errors)
        write_json_atomic(args.out / "metrics.json", {"name": name, **metrics})
        logger.log_metrics(metrics)
        for artifact in ("hypotheses.jsonl", "errors.jsonl", "metrics.json"):
            logger.log_artifact(args.out / artifact)
        log.info("%s: %d utterances WER %.3f CER %.3f MER %.3f PIER %.3f", name, corpus.utterances, corpus.wer,
                 corpus.cer, corpus.mer, corpus.pier.pier)
