"""What the speech-LLM stages read: training utterances (minus any mentioning an evaluation
hotword, so neither SFT nor GRPO ever sees a test hotword, as a target or as a distractor), the
distractor vocabulary, and the frozen encoder states of an own-length feature store
(``workbench.features``, written by ``encode --layout own``)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from workbench.asr.whisper_model import load_whisper
from workbench.data import read_manifest
from workbench.features import OWN, FeatureStore, Layout, feature_fingerprint
from workbench.retrieval.data import load_examples
from workbench.speechllm.training import SFTExample
from workbench.text.hotwords import hotword_key, read_hotword_lists


def evaluation_hotwords(manifests: Iterable[Path]) -> set[str]:
    return {hotword_key(h) for path in manifests for u in read_manifest(path, check_files=False)
            for h in (u.hotwords or ())}


def training_examples(manifests: Sequence[Path], exclude: set[str],
                      limit: int | None = None) -> tuple[list[SFTExample], dict]:
    """Utterances of the manifests (first ``limit`` of the first manifest, then the others whole)."""
    found, counts = load_examples(manifests, exclude)
    examples = [SFTExample(e.id, e.text, tuple(e.hotwords)) for e in found]
    if limit is not None:
        first = str(manifests[0])
        primary = [e for e, f in zip(examples, found) if f.source == first][:limit]
        examples = primary + [e for e, f in zip(examples, found) if f.source != first]
        counts[f"{first}:used"] = len(primary)
    return examples, counts


def distractor_vocabulary(paths: Sequence[Path], exclude: set[str]) -> list[str]:
    """The phrases of the lists (read as one, ``workbench.text.hotwords``) minus ``exclude``d keys."""
    return [w for w in read_hotword_lists(paths).phrases if hotword_key(w) not in exclude]


def encoder_states(frames: Path, whisper_checkpoint: str, ids: Iterable[str]) -> dict[str, torch.Tensor]:
    """Final encoder states (own length, every block and ln_post) by utterance id, from the feature
    store ``frames``; a store of other encoder weights or of states below the top blocks is refused."""
    layout = Layout(OWN)
    store = FeatureStore.open(frames, layout)
    store.check(feature_fingerprint(load_whisper(whisper_checkpoint), layout))
    return store.load(ids)


@dataclass(frozen=True)
class TrainingData:
    examples: list[SFTExample]
    counts: dict  # utterances used / excluded per manifest
    vocabulary: list[str]  # distractor words (evaluation hotwords removed)
    excluded_hotwords: int
    states: dict[str, torch.Tensor]  # encoder states by utterance id


def load_training_data(manifests: Sequence[Path], vocabulary: Sequence[Path], exclude: Sequence[Path], frames: Path,
                       whisper_checkpoint: str, limit: int | None = None) -> TrainingData:
    """What SFT and GRPO train on: utterances and distractors without any evaluation hotword, and
    their encoder states."""
    excluded = evaluation_hotwords(exclude)
    examples, counts = training_examples(manifests, excluded, limit)
    words = distractor_vocabulary(vocabulary, excluded)
    states = encoder_states(frames, whisper_checkpoint, (e.id for e in examples))
    return TrainingData(examples, counts, words, len(excluded), states)
