"""TRANSITION (issue 18): ``retrieval_frames`` is ``workbench encode --layout own`` with its params
section ``retrieval_frames`` (model, trainable_layers); kept until dvc.yaml calls ``encode``, then deleted."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

from workbench.asr import load_whisper
from workbench.features import OWN, FeatureStore, Layout
from workbench.features.provision import encode_missing, missing_utterances
from workbench.runner import Stage, StageContext


@dataclass(frozen=True)
class RetrievalFramesConfig:
    model: str = "models/whisper-base.pt"
    trainable_layers: int = 0  # top encoder blocks the retrievers fine-tune: states are stored below them
    device: str = "cpu"
    threads: int | None = None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("manifests", nargs="+", type=Path, help="utterance manifests (jsonl)")
    parser.add_argument("--out", type=Path, required=True, help="feature store directory (own-length layout)")


def run(context: StageContext) -> None:
    args, config = context.args, context.config
    store = FeatureStore(args.out, Layout(OWN, config.trainable_layers))
    model = load_whisper(config.model, config.device)
    todo = missing_utterances(store.bind(model), args.manifests)
    with context.progress(sum(len(utterances) for _, utterances in todo), f"frames {args.out.name}") as bar:
        for stored in encode_missing(store, model, todo, 8):
            bar.update(stored)


STAGE = Stage("retrieval_frames", "alias of `encode --layout own` (transition)", add_arguments, run,
              config=RetrievalFramesConfig, description=__doc__)
