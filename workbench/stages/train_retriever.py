"""Stage ``train_retriever``: train one retriever experiment (GLCLAP, CLAR or CLSR; one row of
seed 000 Table 1, seed 001 Tables 1-2, or the CLSR row).

Training pairs: the corpus training manifests (transcript + annotated hotwords) and, for
experiments with ``rada: true``, the RADA stage's synthesized clips of vocabulary words. Every
utterance mentioning a hotword of the ``--exclude`` manifests (the dev/test sets) is left out, so
the evaluation never sees a hotword the retriever was trained on. Audio features come from the
own-length feature store (``encode --layout own``). Resumable, under ``dvc repro`` too (the
checkpoint lives in ``<out>.resume/<fingerprint>/``, see ``workbench.data.resume``, and is
deleted once the retriever is saved); loss parts and the logit scale go to MLflow.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from workbench.retrieval.experiment import load_retriever_experiment
from workbench.retrieval.fit import fit_retriever, training_data
from workbench.retrieval.models import save_retriever
from workbench.retrieval.options import TrainRetrieverConfig
from workbench.runner import Stage, StageContext


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add("--experiment", type=Path, required=True, help="experiment YAML (experiments/retrieval/<name>.yaml)")
    add("--manifest", type=Path, nargs="+", required=True, help="training manifests (jsonl)")
    add("--rada", type=Path, default=None,
        help="RADA stage output directory (its clips/manifest.jsonl is used when the experiment has rada: true)")
    add("--exclude", type=Path, nargs="*", default=[],
        help="manifests whose hotwords must not occur in training (the evaluation sets)")
    add("--frames", type=Path, required=True, help="own-length feature store holding every training manifest")
    add("--out", type=Path, required=True, help="output directory: retriever.safetensors, retriever.json, "
        "train.json (checkpoints while training: <out>.resume/<fingerprint>/)")


def run(context: StageContext) -> None:
    args, config = context.args, context.config
    experiment = load_retriever_experiment(args.experiment)
    data = training_data(experiment, args.manifest, args.rada, args.exclude)
    context.log.info("%s: %d training examples (%s); %d evaluation hotwords excluded", experiment.name,
                     len(data.examples), data.counts, data.excluded_hotwords)
    tags = {"study": "retrieval", "variant": experiment.name, "method": experiment.method, "table": experiment.table}
    with context.tracked(f"train-{experiment.name}", tags, {"experiment": experiment.params()}) as run:
        inputs = [*data.manifests, *args.exclude, args.frames, config.model, config.text_model]
        resume = context.resume(args.out, inputs, {"experiment": args.experiment.read_text(encoding="utf-8")})
        with context.training_progress(f"train {experiment.method}", resume.directory) as steps:
            trained = fit_retriever(experiment, config, data, args.frames, resume.directory, run.log_metrics,
                                    steps.progress, steps.resumed)
        save_retriever(trained.model, args.out, trained.meta)
        context.write_json(args.out / "train.json", trained.summary)
        run.log_metrics({"train_seconds": trained.seconds, "examples": len(data.examples)})
        resume.finish()
        print(json.dumps(trained.summary))


STAGE = Stage("train_retriever", "train a hotword retriever experiment (GLCLAP / CLAR / CLSR) on frame features; "
              "resumable; logs to MLflow", add_arguments, run, config=TrainRetrieverConfig, description=__doc__)
