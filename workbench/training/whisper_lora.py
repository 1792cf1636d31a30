"""LoRA fine-tuning of Whisper for one cs_nmg experiment (one row of seed 003's tables), with the
dev WER/MER/PIER after every epoch.

The dev scores of the epochs done are kept beside the trainer's checkpoint in the run's resume
directory (``dev_history.json``), so a run resumed after a kill reports the epochs before the kill
too; entries past the checkpoint's step are redone.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
import whisper

from workbench.asr.encoder_outputs import EncoderOutputs
from workbench.asr.evaluation import transcribe_and_score
from workbench.asr.lora import trainable_parameters
from workbench.asr.transcribe import TranscribeOptions
from workbench.data import Utterance, write_json_atomic
from workbench.metrics.scorer import Scorer
from workbench.training.data import TrainingItem
from workbench.training.experiment import ExperimentConfig
from workbench.training.objective import Objective
from workbench.training.options import TrainASRConfig
from workbench.training.trainer import CHECKPOINT, train

DEV_HISTORY = "dev_history.json"

Features = Callable[[list[str]], torch.Tensor]  # utterance ids -> their encoder outputs


@dataclass(frozen=True)
class FineTuning:
    experiment: str
    steps: int  # optimizer steps done in all (a resumed run counts the ones before the kill)
    utterances: int  # training items
    trainable_parameters: int
    dev: list[dict] = field(default_factory=list)  # per epoch end: epoch, step, dev_wer, dev_mer, dev_pier
    resumed_from_step: int = 0  # 0: started from scratch

    def summary(self) -> dict:
        """train.json: every field, in this order."""
        return dataclasses.asdict(self)


def dev_scores(model: whisper.Whisper, utterances: Sequence[Utterance], root: Path, features: Features | None = None,
               batch_size: int = 8) -> dict[str, float]:
    """Greedy dev WER/MER/PIER with the model as it is (adapter active); ``features(ids)``: the
    utterances' encoder outputs (None: the encoder runs on the clips)."""
    scores = transcribe_and_score(model, utterances, root, Scorer(), TranscribeOptions(fallback_temperatures=()),
                                  batch_size, by_language=True, features=features)
    corpus = scores.corpus
    return {"dev_wer": corpus.wer, "dev_mer": corpus.mer, "dev_pier": corpus.pier.pier}


def _dev_history(state_dir: Path) -> list[dict]:
    """The dev scores a killed run recorded; none without its checkpoint (nothing to resume)."""
    if not (state_dir / CHECKPOINT).exists():
        return []
    try:
        return json.loads((state_dir / DEV_HISTORY).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []


def finetune_whisper(
    model: whisper.Whisper,
    experiment: ExperimentConfig,
    config: TrainASRConfig,
    items: Sequence[TrainingItem],
    utterances: Sequence[Utterance],
    root: Path,
    dev: Sequence[Utterance],
    dev_root: Path | None,
    encoder_store: Path | None,
    state_dir: Path,
    log_metrics: Callable[[dict, int], None] = lambda metrics, step: None,
    progress: Callable[[int, int], None] = lambda done, total: None,
    on_resume: Callable[[int], None] = lambda step: None,
    on_dev_scores: Callable[[int, dict], None] = lambda epoch, scores: None,
) -> FineTuning:
    """Train the LoRA adapters of ``model`` (``workbench.asr.lora.apply_lora``) on ``items`` (of
    ``utterances``, audio relative to ``root``) with the experiment's losses and ``config.loop``,
    resuming from the checkpoint in ``state_dir`` if there is one; ``dev`` is scored after every epoch.

    Encoder outputs come from ``encoder_store`` (the encode stage's), else from memory after their
    first computation (``config.encoder_cache``), else from the encoder every time. Callbacks:
    ``log_metrics(metrics, step)`` (each step's loss parts, each epoch's dev scores),
    ``progress(done, total)`` in optimizer steps, ``on_resume(step)``, ``on_dev_scores(epoch, scores)``.
    """
    features = EncoderOutputs(model, utterances, root, encoder_store, config.encoder_cache)
    dev_features = EncoderOutputs(model, dev, dev_root, encoder_store, config.encoder_cache).of_ids if dev else None
    history = _dev_history(state_dir)
    resumed_from = 0

    def resumed(step: int) -> None:
        nonlocal resumed_from
        resumed_from = step
        on_resume(step)

    def on_epoch_end(epoch: int, step: int) -> None:
        if dev:
            with torch.no_grad():
                scores = dev_scores(model, dev, dev_root, dev_features)
            history[:] = [h for h in history if h["step"] < step] + [{"epoch": epoch, "step": step, **scores}]
            write_json_atomic(state_dir / DEV_HISTORY, history)
            log_metrics(scores, step)
            on_dev_scores(epoch, scores)

    steps = train(model, Objective(model, experiment), items, features, experiment.losses, config.loop, state_dir,
                  log_metrics=log_metrics, on_epoch_end=on_epoch_end, on_resume=resumed, progress=progress)
    trainable, _total = trainable_parameters(model)
    return FineTuning(experiment.name, steps, len(items), trainable, list(history), resumed_from)
