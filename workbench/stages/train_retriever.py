"""Stage ``train_retriever``: train one retriever experiment (GLCLAP, CLAR or CLSR; one row of
seed 000 Table 1, seed 001 Tables 1-2, or the CLSR row).

Training pairs: the corpus training manifests (transcript + annotated hotwords) and, for
experiments with ``rada: true``, the RADA stage's synthesized clips of vocabulary words. Every
utterance mentioning a hotword of the ``--exclude`` manifests (the dev/test sets) is left out, so
the evaluation never sees a hotword the retriever was trained on. Audio features come from the
``retrieval_frames`` store. Resumable per epoch, under ``dvc repro`` too (the checkpoint lives in
``<out>.resume/<fingerprint>/``, see ``workbench.data.resume``, and is deleted once the
retriever is saved); loss parts and the logit scale go to MLflow.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import torch

from workbench.asr import load_whisper
from workbench.config import config_to_dict
from workbench.config.loading import build_config
from workbench.config.stages import TrainRetrieverConfig
from workbench.data import read_manifest, write_json_atomic
from workbench.retrieval.data import load_examples
from workbench.retrieval.experiment import load_retriever_experiment
from workbench.retrieval.frames import FrameStore, store_fingerprint
from workbench.retrieval.models import ArchitectureConfig, build_retriever, save_retriever, text_encoder_of
from workbench.retrieval.training import train_retriever
from workbench.retrieval.vocabulary import hotword_key
from workbench.stages.common import add_params_arguments, configure_logging, set_threads, stage_config
from workbench.tracking import make_logger, tracked_run
from workbench.data.resume import open_resume_state

NAME = "train_retriever"
HELP = "train a hotword retriever experiment (GLCLAP / CLAR / CLSR) on frame features; resumable; logs to MLflow"
CONFIG = (TrainRetrieverConfig, "train_retriever")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--experiment", type=Path, required=True, help="experiment YAML (experiments/retrieval/<name>.yaml)")
    parser.add_argument("--manifest", type=Path, nargs="+", required=True, help="training manifests (jsonl)")
    parser.add_argument("--rada", type=Path, default=None,
                        help="RADA stage output directory (its clips/manifest.jsonl is used when the experiment has rada: true)")
    parser.add_argument("--exclude", type=Path, nargs="*", default=[],
                        help="manifests whose hotwords must not occur in training (the evaluation sets)")
    parser.add_argument("--frames", type=Path, required=True, help="retrieval_frames store holding every training manifest")
    parser.add_argument("--out", type=Path, required=True, help="output directory: retriever.safetensors, retriever.json, train.json "
                        "(checkpoints while training: <out>.resume/<fingerprint>/)")
    add_params_arguments(parser, "train_retriever")


def architecture_of(config: TrainRetrieverConfig, overrides: dict, where: str) -> ArchitectureConfig:
    return build_config(ArchitectureConfig, {**dataclasses.asdict(config.architecture), **overrides}, where)


def run(args: argparse.Namespace) -> None:
    log = configure_logging()
    config = stage_config(TrainRetrieverConfig, args, "train_retriever")
    set_threads(config.threads)
    experiment = load_retriever_experiment(args.experiment)
    architecture = architecture_of(config, experiment.architecture, f"{args.experiment}: architecture")
    manifests = list(args.manifest)
    if experiment.rada:
        if args.rada is None:
            raise FileNotFoundError(f"{args.experiment} has rada: true; pass --rada <rada stage output>")
        manifests.append(args.rada / "clips" / "manifest.jsonl")
    exclude = {hotword_key(h) for path in args.exclude for u in read_manifest(path, check_files=False) for h in (u.hotwords or ())}
    examples, counts = load_examples(manifests, exclude)
    log.info("%s: %d training examples (%s); %d evaluation hotwords excluded", experiment.name, len(examples), counts, len(exclude))

    whisper_model = load_whisper(config.model, config.device)
    layers = len(whisper_model.encoder.blocks) - architecture.audio_trainable_layers
    store = FrameStore(args.frames)
    store.check(store_fingerprint(config.model, layers))
    states = store.load(e.id for e in examples)

    logger = make_logger(
        config.tracking.backend, config.tracking.experiment, f"train-{experiment.name}", config.tracking.uri,
        tags={"stage": "train_retriever", "study": "retrieval", "variant": experiment.name, "method": experiment.method,
              "table": experiment.table},
    )
    with tracked_run(logger, {"train_retriever": config_to_dict(config), "experiment": config_to_dict(experiment)}):
        resume = open_resume_state(
            args.out, NAME,
            {"train_retriever": config_to_dict(config), "experiment": args.experiment.read_text(encoding="utf-8")},
            [*manifests, *args.exclude, args.frames, config.model, config.text_model],
        )
        resumed_from = 0

        def on_resume(epoch: int) -> None:
            nonlocal resumed_from
            resumed_from = epoch

        torch.manual_seed(config.loop.seed)
        text = text_encoder_of(architecture, config.text_model)
        model = build_retriever(experiment.method, whisper_model, text, architecture)
        trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
        started = time.perf_counter()
        epochs = train_retriever(
            model, examples, states, experiment.losses, config.loop, resume.directory,
            cif_pretrain_epochs=experiment.cif_pretrain_epochs, fuzzy=config.fuzzy if experiment.fuzzy else None,
            log_metrics=logger.log_metrics, on_resume=on_resume,
        )
        seconds = time.perf_counter() - started
        save_retriever(model, args.out, {
            "experiment": experiment.name, "rada": experiment.rada, "model": config.model, "text_model": config.text_model,
            "frames_fingerprint": store_fingerprint(config.model, layers),
        })
        summary = {"experiment": experiment.name, "method": experiment.method, "epochs": epochs,
                   "examples": len(examples), "example_counts": counts, "excluded_hotwords": len(exclude),
                   "trainable_parameters": trainable, "train_seconds": round(seconds, 1), "resumed_from_epoch": resumed_from}
        write_json_atomic(args.out / "train.json", summary)
        logger.log_metrics({"train_seconds": seconds, "examples": len(examples)})
        logger.log_artifact(args.out / "train.json")
        resume.finish()
        print(json.dumps(summary))
