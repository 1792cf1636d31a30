"""Stage ``train_asr``: LoRA fine-tuning of Whisper for one experiment (one row of seed 003's tables).

Losses and their weights come from the experiment YAML; LoRA, optimizer, epochs and the
``profile`` from params.yaml's ``train_asr``. Negatives are re-selected from the near-miss pool
with the experiment's sources and gate, so one pool serves every row. Encoder outputs come from
the ``encode`` stage's cache (decoder-only LoRA: the encoder never changes). Each loss part and
the dev WER/PIER after every epoch go to MLflow. Resumable, under ``dvc repro`` too: a killed run
continues from its last checkpoint (same batches, same RNG state) to the same final adapter. The
checkpoint and the dev scores of the epochs done live in ``<out>.resume/<fingerprint>/``
(``workbench.data.resume``), which is deleted once adapter/ and train.json are written.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from workbench.asr import load_whisper
from workbench.asr.encoder_cache import EncoderCache
from workbench.asr.lora import apply_lora, save_adapter, trainable_parameters
from workbench.asr.transcribe import TranscribeOptions, log_mel_batch, transcribe_batch
from workbench.asr.whisper_model import encode
from workbench.config import ConfigError, config_to_dict
from workbench.config.stages import TrainASRConfig
from workbench.data import batches_by_language, load_audio, read_manifest, write_json_atomic
from workbench.metrics.scorer import Reference, Scorer, aggregate
from workbench.stages.common import add_params_arguments, configure_logging, read_json_or_none, set_threads, stage_config
from workbench.asr.encoder_cache import cached_features, open_cache
from workbench.tracking import make_logger, tracked_run
from workbench.training.data import build_items
from workbench.training.experiment import load_experiment
from workbench.training.objective import Objective
from workbench.data.resume import open_resume_state
from workbench.training.trainer import CHECKPOINT, train

NAME = "train_asr"
HELP = "LoRA-fine-tune Whisper with an experiment's losses (CE/WCE/MWER/InfoNCE); resumable; logs to MLflow"
CONFIG = (TrainASRConfig, "train_asr")
DEV_HISTORY = "dev_history.json"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--experiment", type=Path, required=True, help="experiment YAML (experiments/cs_nmg/<name>.yaml)")
    parser.add_argument("--manifest", type=Path, required=True, help="training manifest (jsonl)")
    parser.add_argument("--dev", type=Path, default=None, help="dev manifest: WER/PIER after each epoch")
    parser.add_argument("--pool", type=Path, required=True, help="near-miss pool of the training manifest (nearmiss stage)")
    parser.add_argument("--nbest", type=Path, default=None, help="N-best of the training manifest (needed by MWER)")
    parser.add_argument("--encoder-cache", type=Path, default=None, help="encode stage output (default: encode on the fly)")
    parser.add_argument("--out", type=Path, required=True, help="output directory: adapter/, train.json "
                        "(checkpoints while training: <out>.resume/<fingerprint>/)")
    add_params_arguments(parser, "train_asr")


class Features:
    """Encoder outputs by utterance id: from the encode stage's cache, in memory (no cache
    directory: computed in the first epoch, reused after), or recomputed every time
    (``encoder_cache: false``: the slow path the benchmark compares against)."""

    def __init__(self, model, utterances, manifest: Path, cache_dir: Path | None, use_cache: bool):
        self.model, self.manifest = model, manifest
        self.by_id = {u.id: u for u in utterances}
        self.cache = (open_cache(cache_dir) if cache_dir is not None else EncoderCache()) if use_cache else None

    def _mel(self, ids: list[str]) -> torch.Tensor:
        return log_mel_batch(self.model, [load_audio(self.by_id[i].audio_path(self.manifest.parent)) for i in ids])

    def of_ids(self, ids: list[str]) -> torch.Tensor:
        if self.cache is None:
            with torch.no_grad():
                return encode(self.model, self._mel(ids))
        if self.cache.directory is not None:
            return cached_features(self.cache, self.model, ids)  # read-only: the encode stage owns it
        return self.cache.get_or_compute(ids, lambda positions: self._mel([ids[p] for p in positions]), self.model)

    def __call__(self, items) -> torch.Tensor:
        return self.of_ids([item.id for item in items])


def dev_scores(model, utterances, features: Features, batch_size: int = 8) -> dict[str, float]:
    """Greedy dev WER/MER/PIER with the model as it is (adapter active)."""
    scorer, scored = Scorer(), []
    for language, batch in batches_by_language(utterances, batch_size, True):
        clips = [load_audio(u.audio_path(features.manifest.parent)) for u in batch]
        options = TranscribeOptions(language=language, fallback_temperatures=())
        results = transcribe_batch(model, clips, options, features.of_ids([u.id for u in batch]))
        scored += [scorer.score(Reference.from_utterance(u), r.text) for u, r in zip(batch, results)]
    corpus = aggregate(scored)
    return {"dev_wer": corpus.wer, "dev_mer": corpus.mer, "dev_pier": corpus.pier.pier}


def run(args: argparse.Namespace) -> None:
    log = configure_logging()
    config = stage_config(TrainASRConfig, args, "train_asr")
    experiment = load_experiment(args.experiment)
    if experiment.uses_nbest and args.nbest is None:
        raise ConfigError(f"{args.experiment}: MWER needs --nbest")
    if config.lora.scope != "decoder" and config.encoder_cache:
        raise ConfigError("train_asr.encoder_cache needs lora.scope: decoder (a trained encoder changes its outputs)")
    set_threads(config.threads)
    torch.manual_seed(config.loop.seed)
    utterances = read_manifest(args.manifest)
    if config.max_train_utterances is not None:
        utterances = utterances[: config.max_train_utterances]
    items = build_items(utterances, args.pool, args.nbest, experiment, config.gate)
    dev = read_manifest(args.dev) if args.dev else []
    logger = make_logger(
        config.tracking.backend, config.tracking.experiment, f"train-{experiment.name}-{args.manifest.parent.name}",
        config.tracking.uri,
        tags={"stage": "train_asr", "study": "cs_nmg", "variant": experiment.name, "pair": args.manifest.parent.name,
              "table": str(experiment.table), "profile": config.profile},
    )
    with tracked_run(logger, {"train_asr": config_to_dict(config), "experiment": config_to_dict(experiment)}):
        # checkpoints outlive `dvc repro` beside --out, under a fingerprint of what decides the
        # result: the resolved params section, the experiment file and the inputs
        resume = open_resume_state(
            args.out, NAME, {"train_asr": config_to_dict(config), "experiment": args.experiment.read_text(encoding="utf-8")},
            [args.manifest, args.dev, args.pool, args.nbest, args.encoder_cache, config.model],
        )
        model = apply_lora(load_whisper(config.model, config.device), config.lora)
        trainable, total = trainable_parameters(model)
        log.info("%s: %d utterances, LoRA %d of %d parameters trainable", experiment.name, len(items), trainable, total)
        features = Features(model, utterances, args.manifest, args.encoder_cache, config.encoder_cache)
        dev_features = Features(model, dev, args.dev, args.encoder_cache, config.encoder_cache) if dev else None
        # the dev scores of every epoch end, kept next to the checkpoint: a resumed run reports the
        # epochs done before the kill too (entries past the checkpoint's step are redone)
        history_file = resume.directory / DEV_HISTORY
        history = (read_json_or_none(history_file) or []) if (resume.directory / CHECKPOINT).exists() else []
        resumed_from = 0

        def on_resume(step: int) -> None:
            nonlocal resumed_from
            resumed_from = step

        def on_epoch_end(epoch: int, step: int) -> None:
            if dev:
                with torch.no_grad():
                    scores = dev_scores(model, dev, dev_features)
                history[:] = [h for h in history if h["step"] < step] + [{"epoch": epoch, "step": step, **scores}]
                write_json_atomic(history_file, history)
                logger.log_metrics(scores, step)
                log.info("epoch %d: %s", epoch, scores)

        steps = train(
            model, Objective(model, experiment), items, features, experiment.losses, config.loop, resume.directory,
            log_metrics=logger.log_metrics, on_epoch_end=on_epoch_end, on_resume=on_resume,
        )
        save_adapter(model, args.out / "adapter")
        summary = {"experiment": experiment.name, "steps": steps, "utterances": len(items),
                   "trainable_parameters": trainable, "dev": history, "resumed_from_step": resumed_from}
        write_json_atomic(args.out / "train.json", summary)
        logger.log_artifact(args.out / "train.json")
        resume.finish()
        log.info("saved %s", args.out / "adapter")
        print(json.dumps(summary))
