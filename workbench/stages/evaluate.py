"""Stage ``evaluate``: Whisper transcribes a manifest; WER/CER/MER go to a metrics file and MLflow."""

from __future__ import annotations

import argparse
from pathlib import Path

from workbench.asr import TranscribeOptions, load_whisper
from workbench.asr.evaluation import transcribe_and_score
from workbench.asr.options import EvaluateConfig
from workbench.data import read_manifest
from workbench.data.jsonl import write_jsonl
from workbench.errors import InputError
from workbench.metrics.intervals import interval_metrics
from workbench.metrics.scorer import Scorer
from workbench.runner import Stage, StageContext


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--manifest", type=Path, required=True, help="utterance manifest (jsonl) to transcribe")
    parser.add_argument("--out", type=Path, required=True,
                        help="directory for hypotheses.jsonl, errors.jsonl, metrics.json")
    parser.add_argument("--name", default=None, help="run name (default: the manifest's parent directory name)")


def run(context: StageContext) -> None:
    args, config = context.args, context.config
    name = args.name or args.manifest.parent.name
    utterances = read_manifest(args.manifest)
    if not utterances:
        raise InputError(f"{args.manifest}: the manifest has no utterances")
    score = config.score_for(name)  # the test set's declared normalization, recorded with the run
    scorer = Scorer.from_config(score)
    by_language = config.language == "manifest"
    options = TranscribeOptions(
        language=None if by_language else config.language, beam_size=config.beam_size, fp16=config.device != "cpu",
        **({} if config.temperature_fallback else {"fallback_temperatures": ()}),
    )
    with context.tracked(f"evaluate-{name}", {"manifest": str(args.manifest)},
                         {"manifest": str(args.manifest), "name": name,
                          "normalization": ",".join(score.normalization)}) as logger:
        model = load_whisper(config.model, config.device)
        with context.progress(len(utterances), f"decode {name}") as bar:
            scores = transcribe_and_score(model, utterances, args.manifest.parent, scorer, options, config.batch_size,
                                          by_language, progress=bar.update)
        corpus, ratios = scores.corpus, scores.ratios()
        metrics = {**{k: v for k, v in corpus.as_metrics().items() if v == v},
                   **interval_metrics(ratios.intervals(config.intervals)),
                   "decode_seconds": round(scores.seconds, 3),
                   "seconds_per_utterance": round(scores.seconds / len(utterances), 4)}
        args.out.mkdir(parents=True, exist_ok=True)
        write_jsonl(args.out / "hypotheses.jsonl", scores.hypotheses())
        write_jsonl(args.out / "errors.jsonl", scores.errors())
        context.write_json(args.out / "metrics.json", {"name": name, "normalization": list(score.normalization),
                                                       **metrics}, publish=False)
        context.write_json(args.out / "ratios.json", ratios.to_json())  # per utterance: paired comparisons
        logger.log_metrics(metrics)
        context.publish(*(args.out / artifact for artifact in ("hypotheses.jsonl", "errors.jsonl", "metrics.json")))
        context.log.info("%s: %d utterances WER %.3f CER %.3f MER %.3f PIER %.3f", name, corpus.utterances, corpus.wer,
                         corpus.cer, corpus.mer, corpus.pier.pier)


STAGE = Stage("evaluate", "transcribe a manifest with Whisper and score it (WER/CER/MER); log to DVC metrics and "
              "MLflow", add_arguments, run, config=EvaluateConfig, description=__doc__)
