"""Training one retriever experiment (a row of seed 000 Table 1, seed 001 Tables 1-2, or CLSR):
its training pairs, the frozen encoders, the model, and the loop (``retrieval.training``).

Training pairs: the corpus training manifests (transcript + annotated hotwords) and, for
experiments with ``rada: true``, the RADA stage's synthesized clips of vocabulary words. Every
utterance mentioning a hotword of the ``exclude`` manifests (the dev/test sets) is left out, so
the evaluation never sees a hotword the retriever was trained on. Audio features are the
own-length encoder states of the feature store (``workbench.features``), checked against the
encoder and depth the experiment's architecture needs.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from workbench.data import read_manifest
from workbench.errors import ConfigError
from workbench.features import OWN, FeatureStore, Layout, feature_fingerprint
from workbench.retrieval.data import RetrievalExample, load_examples
from workbench.retrieval.experiment import RetrieverExperiment
from workbench.retrieval.models import Retriever, build_retriever, text_encoder_of
from workbench.retrieval.options import TrainRetrieverConfig
from workbench.retrieval.training import train_retriever
from workbench.text.hotwords import hotword_key


@dataclass(frozen=True)
class TrainingData:
    examples: list[RetrievalExample]
    counts: dict[str, int]  # examples per source manifest
    excluded_hotwords: int  # hotwords of the evaluation sets (their utterances are left out)
    manifests: tuple[Path, ...]  # the training manifests, RADA's clips manifest among them


def training_data(experiment: RetrieverExperiment, manifests: Sequence[Path], rada: Path | None,
                  exclude: Sequence[Path]) -> TrainingData:
    """The experiment's training examples; ``rada``: the RADA stage's output (for ``rada: true``)."""
    manifests = list(manifests)
    if experiment.rada:
        if rada is None:
            raise ConfigError(f"experiment {experiment.name} has rada: true; pass --rada <rada stage output>")
        manifests.append(rada / "clips" / "manifest.jsonl")
    excluded = {hotword_key(h) for path in exclude for u in read_manifest(path, check_files=False)
                for h in (u.hotwords or ())}
    examples, counts = load_examples(manifests, excluded)
    return TrainingData(examples, counts, len(excluded), tuple(manifests))


@dataclass(frozen=True)
class TrainedRetriever:
    model: Retriever
    meta: dict  # what retriever.json records besides method and architecture
    summary: dict  # train.json
    seconds: float


def fit_retriever(experiment: RetrieverExperiment, config: TrainRetrieverConfig, data: TrainingData, frames: Path,
                  checkpoint_dir: Path, log_metrics: Callable[[dict, int], None] = lambda metrics, step: None,
                  progress: Callable[[int, int], None] = lambda done, total: None,
                  on_resume: Callable[[int], None] = lambda step: None) -> TrainedRetriever:
    """Train ``experiment`` on ``data`` with the encoder states of the feature store ``frames``;
    checkpoints in ``checkpoint_dir`` (a run finding one there resumes from it). The callbacks are
    the training loop's: per-step metrics, ``progress(done, total)`` steps, the step resumed from."""
    from workbench.asr import load_whisper

    architecture = experiment.architecture_over(config.architecture)
    whisper_model = load_whisper(config.model, config.device)
    layout = Layout(OWN, architecture.audio_trainable_layers)  # the states below the blocks it fine-tunes
    fingerprint = feature_fingerprint(whisper_model, layout)
    states = FeatureStore.open(frames, layout).check(fingerprint).load(e.id for e in data.examples)
    resumed_from = 0

    def resumed(step: int) -> None:
        nonlocal resumed_from
        resumed_from = step
        on_resume(step)

    torch.manual_seed(config.loop.seed)  # the initialization of the heads and of a from-scratch text tower
    text = text_encoder_of(architecture, config.text_model)
    model = build_retriever(experiment.method, whisper_model, text, architecture)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    started = time.perf_counter()
    epochs = train_retriever(
        model, data.examples, states, experiment.loss_weights(), config.loop, checkpoint_dir,
        cif_pretrain_epochs=experiment.cif_pretrain_epochs, fuzzy=config.fuzzy if experiment.fuzzy else None,
        log_metrics=log_metrics, on_resume=resumed, progress=progress,
    )
    seconds = time.perf_counter() - started
    meta = {"experiment": experiment.name, "rada": experiment.rada, "model": config.model,
            "text_model": config.text_model, "frames_fingerprint": fingerprint}
    summary = {"experiment": experiment.name, "method": experiment.method, "epochs": epochs,
               "examples": len(data.examples), "example_counts": data.counts,
               "excluded_hotwords": data.excluded_hotwords, "trainable_parameters": trainable,
               "train_seconds": round(seconds, 1), "resumed_from_step": resumed_from}
    return TrainedRetriever(model, meta, summary, seconds)
