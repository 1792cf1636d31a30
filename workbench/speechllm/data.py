"""What the speech-LLM stages read: training utterances (minus any mentioning an evaluation
hotword, so neither SFT nor GRPO ever sees a test hotword, as a target or as a distractor), the
distractor vocabulary, and the frozen encoder states of a feature store (``workbench.features``):
padded for the Whisper backbone, own length for the adapter one (``encode --layout padded|own``);
the audio_lm backbone reads log-mel features of the audio files instead (layout ``mel``: no store,
its own audio tower encodes them)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from workbench.asr.whisper_model import load_whisper
from workbench.data import read_manifest
from workbench.errors import InputError
from workbench.features import OWN, FeatureStore, Layout, feature_fingerprint
from workbench.features.store import META
from workbench.retrieval.data import load_examples
from workbench.speechllm.audio_lm import MEL, mel_features
from workbench.speechllm.training import SFTExample
from workbench.text.hotwords import hotword_key, read_hotword_lists


def evaluation_hotwords(manifests: Iterable[Path]) -> set[str]:
    return {hotword_key(h) for path in manifests for u in read_manifest(path, check_files=False)
            for h in (u.hotwords or ())}


def training_examples(manifests: Sequence[Path], exclude: set[str],
                      limit: int | None = None) -> tuple[list[SFTExample], dict]:
    """Utterances of the manifests (first ``limit`` of the first manifest, then the others whole)."""
    found, counts = load_examples(manifests, exclude)
    languages = {u.id: u.language for path in manifests for u in read_manifest(path, check_files=False)}
    examples = [SFTExample(e.id, e.text, tuple(e.hotwords), languages.get(e.id)) for e in found]
    if limit is not None:
        first = str(manifests[0])
        primary = [e for e, f in zip(examples, found) if f.source == first][:limit]
        examples = primary + [e for e, f in zip(examples, found) if f.source != first]
        counts[f"{first}:used"] = len(primary)
    return examples, counts


def distractor_vocabulary(paths: Sequence[Path], exclude: set[str]) -> list[str]:
    """The phrases of the lists (read as one, ``workbench.text.hotwords``) minus ``exclude``d keys."""
    return [w for w in read_hotword_lists(paths).phrases if hotword_key(w) not in exclude]


def stores_of_layout(frames: Sequence[Path], length: str) -> list[Path]:
    """The feature stores among ``frames`` whose layout is ``length`` (padded / own), in order."""
    found = [Path(d) for d in frames if (Path(d) / META).is_file()
             and json.loads((Path(d) / META).read_text(encoding="utf-8")).get("layout") == length]
    if not found:
        raise InputError(f"none of the feature stores {[str(f) for f in frames]} holds the {length} layout this "
                         f"backbone reads: run `workbench encode --layout {length}` on the manifests")
    return found


def encoder_states(frames: Path | Sequence[Path], whisper_checkpoint: str, ids: Iterable[str],
                   length: str = OWN, audio: Mapping[str, Path] | None = None) -> dict[str, torch.Tensor]:
    """Final encoder states (``length``: own or padded; every block and ln_post) by utterance id, from
    the feature store ``frames`` (or those of that layout among several, each utterance from the
    first that holds it); a store of other encoder weights or of states below the top blocks is
    refused. ``length`` mel: the log-mel features of the files ``audio`` maps the ids to
    (``workbench.speechllm.audio_lm``), no store read."""
    if length == MEL:
        return mel_features(audio, ids)
    layout = Layout(length)
    directories = stores_of_layout(frames, length) if isinstance(frames, (list, tuple)) else [frames]
    fingerprint = feature_fingerprint(load_whisper(whisper_checkpoint), layout)
    wanted, states = list(dict.fromkeys(ids)), {}
    for directory in directories:
        store = FeatureStore.open(directory, layout).check(fingerprint)
        held = [i for i in wanted if i not in states and i in store]
        states.update(store.load(held) if held else {})
    # the last store reports what none of them holds, naming the store and the command to run
    missing = [i for i in wanted if i not in states]
    if missing:
        states.update(FeatureStore.open(directories[-1], layout).load(missing))
    return {i: states[i] for i in wanted}


def backbone_layout(meta: dict) -> str:
    """The feature layout a saved model's backbone reads (``read_speechllm_meta``)."""
    from workbench.features import PADDED

    return {"whisper": PADDED, "audio_lm": MEL}.get(meta.get("backbone"), OWN)


@dataclass(frozen=True)
class TrainingData:
    examples: list[SFTExample]
    counts: dict  # utterances used / excluded per manifest
    vocabulary: list[str]  # distractor words (evaluation hotwords removed)
    excluded_hotwords: int
    states: dict[str, torch.Tensor]  # encoder states by utterance id


def load_training_data(manifests: Sequence[Path], vocabulary: Sequence[Path], exclude: Sequence[Path], frames: Path,
                       whisper_checkpoint: str, limit: int | None = None, length: str = OWN) -> TrainingData:
    """What SFT and GRPO train on: utterances and distractors without any evaluation hotword, and
    their encoder states (of the backbone's layout ``length``)."""
    excluded = evaluation_hotwords(exclude)
    examples, counts = training_examples(manifests, excluded, limit)
    words = distractor_vocabulary(vocabulary, excluded)
    audio = None if length != MEL else {u.id: u.audio_path(Path(path).parent) for path in manifests
                                        for u in read_manifest(path, check_files=False)}
    states = encoder_states(frames, whisper_checkpoint, (e.id for e in examples), length, audio)
    return TrainingData(examples, counts, words, len(excluded), states)
