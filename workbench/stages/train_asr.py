"""Stage ``train_asr``: LoRA fine-tuning of Whisper for one experiment (one row of seed 003's tables).

Losses and their weights come from the experiment YAML; LoRA, optimizer, epochs and the
``profile`` from params.yaml's ``train_asr``. Negatives are re-selected from the near-miss pool
with the experiment's sources and gate, so one pool serves every row. Encoder outputs come from
the ``encode`` stage's feature store (decoder-only LoRA: the encoder never changes). Each loss
part and the dev WER/PIER after every epoch go to MLflow. Resumable, under ``dvc repro`` too: a
killed run continues from its last checkpoint (same batches, same RNG state) to the same final
adapter. The checkpoint and the dev scores of the epochs done live in
``<out>.resume/<fingerprint>/`` (``workbench.data.resume``), deleted once adapter/ and train.json
are written.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from workbench.asr import load_whisper
from workbench.asr.encoder_outputs import EncoderOutputs
from workbench.asr.lora import apply_lora, save_adapter, trainable_parameters
from workbench.data import read_manifest
from workbench.errors import ConfigError
from workbench.runner import Stage, StageContext
from workbench.training.data import build_items
from workbench.training.experiment import load_experiment
from workbench.training.options import TrainASRConfig
from workbench.training.whisper_lora import DevSet, finetune_whisper


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--experiment", type=Path, required=True, help="experiment YAML (experiments/cs_nmg/<name>.yaml)")
    parser.add_argument("--manifest", type=Path, required=True, help="training manifest (jsonl)")
    parser.add_argument("--dev", type=Path, default=None, help="dev manifest: WER/PIER after each epoch")
    parser.add_argument("--pool", type=Path, required=True, help="near-miss pool of the training manifest (nearmiss stage)")
    parser.add_argument("--nbest", type=Path, default=None, help="N-best of the training manifest (needed by MWER)")
    parser.add_argument("--encoder-cache", type=Path, default=None, help="encode stage output (default: encode on the fly)")
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
    tags = {"study": "cs_nmg", "variant": experiment.name, "pair": args.manifest.parent.name,
            "table": str(experiment.table), "profile": config.profile}
    with context.tracked(f"train-{experiment.name}-{args.manifest.parent.name}", tags,
                         {"experiment": experiment.as_params()}) as logger:
        # checkpoints outlive `dvc repro` beside --out, under a fingerprint of what decides the
        # result: the resolved params section, the experiment file and the inputs
        resume = context.resume(args.out, [args.manifest, args.dev, args.pool, args.nbest, args.encoder_cache, config.model],
                                {"experiment": args.experiment.read_text(encoding="utf-8")})
        model = apply_lora(load_whisper(config.model, config.device), config.lora)
        trainable, total = trainable_parameters(model)
        context.log.info("%s: %d utterances, LoRA %d of %d parameters trainable", experiment.name, len(items), trainable, total)
        features = EncoderOutputs(model, utterances, args.manifest.parent, args.encoder_cache, config.encoder_cache)
        dev_set = DevSet(dev, args.dev.parent, EncoderOutputs(model, dev, args.dev.parent, args.encoder_cache,
                                                               config.encoder_cache).of_ids) if dev else None
        result = finetune_whisper(model, experiment, config.loop, items, features, dev_set, resume.directory,
                                  logger.log_metrics, lambda epoch, scores: context.log.info("epoch %d: %s", epoch, scores))
        save_adapter(model, args.out / "adapter")
        summary = {"experiment": experiment.name, "steps": result.steps, "utterances": len(items),
                   "trainable_parameters": trainable, "dev": result.dev, "resumed_from_step": result.resumed_from_step}
        context.write_json(args.out / "train.json", summary)
        resume.finish()
        context.log.info("saved %s", args.out / "adapter")
        print(json.dumps(summary))


STAGE = Stage("train_asr", "LoRA-fine-tune Whisper with an experiment's losses (CE/WCE/MWER/InfoNCE); resumable; logs to MLflow",
              add_arguments, run, config=TrainASRConfig, description=__doc__)
