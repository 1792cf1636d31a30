"""LoRA fine-tuning of Whisper for one cs_nmg experiment (one row of seed 003's tables), with the
dev WER/MER/PIER after every epoch.

The dev scores of the epochs done are kept beside the trainer's checkpoint in the run's resume
directory (``dev_history.json``), so a run resumed after a kill reports the epochs before the kill
too; entries past the checkpoint's step are redone.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import torch
import whisper

from workbench.asr.evaluation import transcribe_and_score
from workbench.asr.transcribe import TranscribeOptions
from workbench.data import Utterance, write_json_atomic
from workbench.metrics.scorer import Scorer
from workbench.training.data import TrainingItem
from workbench.training.experiment import ExperimentConfig
from workbench.training.objective import Objective
from workbench.training.trainer import CHECKPOINT, LoopConfig, train

DEV_HISTORY = "dev_history.json"

Features = Callable[[list[str]], torch.Tensor]  # utterance ids -> their encoder outputs


@dataclass(frozen=True)
class DevSet:
    utterances: Sequence[Utterance]
    root: Path  # audio paths are relative to it (the manifest's directory)
    features: Features | None = None  # None: the encoder runs on the clips


@dataclass(frozen=True)
class FineTuning:
    steps: int  # optimizer steps done in all (a resumed run counts the ones before the kill)
    resumed_from_step: int  # 0: started from scratch
    dev: list[dict] = field(default_factory=list)  # per epoch end: epoch, step, dev_wer, dev_mer, dev_pier


def dev_scores(model: whisper.Whisper, dev: DevSet, batch_size: int = 8) -> dict[str, float]:
    """Greedy dev WER/MER/PIER with the model as it is (adapter active)."""
    scores = transcribe_and_score(model, dev.utterances, dev.root, Scorer(), TranscribeOptions(fallback_temperatures=()),
                                  batch_size, by_language=True, features=dev.features)
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
    loop: LoopConfig,
    items: Sequence[TrainingItem],
    features: Callable[[Sequence[TrainingItem]], torch.Tensor],
    dev: DevSet | None,
    state_dir: Path,
    log_metrics: Callable[[dict, int], None] = lambda metrics, step: None,
    on_dev_scores: Callable[[int, dict], None] = lambda epoch, scores: None,
) -> FineTuning:
    """Train the LoRA adapters of ``model`` (see ``workbench.asr.lora.apply_lora``) on ``items``
    with the experiment's losses, resuming from the checkpoint in ``state_dir`` if there is one.
    ``log_metrics(metrics, step)`` gets each step's loss parts and each epoch's dev scores."""
    history = _dev_history(state_dir)
    resumed_from = 0

    def on_resume(step: int) -> None:
        nonlocal resumed_from
        resumed_from = step

    def on_epoch_end(epoch: int, step: int) -> None:
        if dev is not None and dev.utterances:
            with torch.no_grad():
                scores = dev_scores(model, dev)
            history[:] = [h for h in history if h["step"] < step] + [{"epoch": epoch, "step": step, **scores}]
            write_json_atomic(state_dir / DEV_HISTORY, history)
            log_metrics(scores, step)
            on_dev_scores(epoch, scores)

    steps = train(model, Objective(model, experiment), items, features, experiment.losses, loop, state_dir,
                  log_metrics=log_metrics, on_epoch_end=on_epoch_end, on_resume=on_resume)
    return FineTuning(steps, resumed_from, list(history))
