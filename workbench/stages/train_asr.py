"""Stage ``train_asr``: LoRA fine-tuning of Whisper for one experiment (one row of seed 003's tables).

Losses and their weights come from the experiment YAML; LoRA, optimizer, epochs and the ``profile``
from params.yaml's ``train_asr``. Negatives are re-selected from the near-miss pool with the
experiment's sources and gate, so one pool serves every row. Encoder outputs come from the ``encode``
stage's feature store. Each loss part and the dev WER/PIER after every epoch go to MLflow. A killed
run resumes from its last checkpoint (``<out>.resume/<fingerprint>/``) to the same final adapter.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from workbench.asr import load_whisper
from workbench.asr.lora import apply_lora, save_adapter, trainable_parameters
from workbench.data import read_manifest
from workbench.errors import ConfigError
from workbench.runner import Stage, StageContext
from workbench.training.data import build_items
from workbench.training.experiment import load_experiment
from workbench.training.options import TrainASRConfig
from workbench.training.whisper_lora import finetune_whisper


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--experiment", type=Path, required=True, help="experiment YAML (experiments/cs_nmg/*.yaml)")
    parser.add_argument("--manifest", type=Path, required=True, help="training manifest (jsonl)")
    parser.add_argument("--dev", type=Path, default=None, help="dev manifest: WER/PIER after each epoch")
    parser.add_argument("--pool", type=Path, required=True, help="near-miss pool of --manifest (nearmiss stage)")
    parser.add_argument("--nbest", type=Path, default=None, help="N-best of the training manifest (needed by MWER)")
    parser.add_argument("--encoder-cache", type=Path, default=None, help="encode stage output (default: encode here)")
    parser.add_argument("--out", type=Path, required=True, help="output directory: adapter/, train.json "
                        "(checkpoints while training: <out>.resume/<fingerprint>/)")


def run(context: StageContext) -> None:
    args, config = context.args, context.config
    experiment = load_experiment(args.experiment)
    if experiment.uses_nbest and args.nbest is None:
        raise ConfigError(f"{args.experiment}: MWER needs --nbest")
    torch.manual_seed(config.loop.seed)  # the LoRA weights' initialization
    utterances = read_manifest(args.manifest)[: config.max_train_utterances]
    items = build_items(utterances, args.pool, args.nbest, experiment, config.gate)
    dev = read_manifest(args.dev) if args.dev else []
    pair = args.manifest.parent.name
    tags = {"study": "cs_nmg", "variant": experiment.name, "pair": pair, "table": str(experiment.table),
            "profile": config.profile}
    with context.tracked(f"train-{experiment.name}-{pair}", tags, {"experiment": experiment.as_params()}) as logger:
        # fingerprinted: the resolved params section, the experiment file and the inputs
        inputs = [args.manifest, args.dev, args.pool, args.nbest, args.encoder_cache, config.model]
        resume = context.resume(args.out, inputs, {"experiment": args.experiment.read_text(encoding="utf-8")})
        model = apply_lora(load_whisper(config.model, config.device), config.lora)
        trainable, total = trainable_parameters(model)
        context.log.info("%s: %d utterances, LoRA %d of %d parameters trainable", experiment.name, len(items),
                         trainable, total)
        with context.training_progress("train", resume.directory) as steps:
            result = finetune_whisper(
                model, experiment, config, items, utterances, args.manifest.parent, dev, args.dev and args.dev.parent,
                args.encoder_cache, resume.directory, logger.log_metrics, steps.progress, steps.resumed,
                lambda epoch, scores: context.log.info("epoch %d: %s", epoch, scores))
        save_adapter(model, args.out / "adapter")
        context.write_json(args.out / "train.json", result.summary())
        resume.finish()
        context.log.info("saved %s", args.out / "adapter")
        print(json.dumps(result.summary()))


STAGE = Stage("train_asr", "LoRA-fine-tune Whisper with an experiment's losses (CE/WCE/MWER/InfoNCE); resumable",
              add_arguments, run, config=TrainASRConfig, description=__doc__)
