"""Training one retriever experiment (a row of seed 000 Table 1, seed 001 Tables 1-2, or CLSR):
its training pairs, the frozen encoders, the model, and the loop (``retrieval.training``); and the
data-scale curve: the same experiment trained on nested subsets of distinct training words,
each scored on held-out words (``scale_curve``).

Training pairs: the corpus training manifests (transcript + annotated hotwords) and, for
experiments with ``rada: true``, the RADA stage's synthesized clips of vocabulary words. Every
utterance mentioning a hotword of the ``exclude`` manifests (the dev/test sets) is left out, so
the evaluation never sees a hotword the retriever was trained on; nor does a hard negative
(``hard_negatives: k``: each hotword's k nearest sound-alike words, ``phonetic_neighbours``) ever
name one. Audio features are the own-length encoder states of the feature store
(``workbench.features``), checked against the encoder and depth the experiment's architecture needs.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from workbench.data import read_manifest
from workbench.errors import ConfigError, InputError
from workbench.features import OWN, FeatureStore, Layout, feature_fingerprint
from workbench.metrics.intervals import UtteranceRatios, interval_metrics
from workbench.metrics.options import IntervalConfig
from workbench.metrics.retrieval import retrieval_counts
from workbench.retrieval.data import RetrievalExample, load_examples
from workbench.retrieval.experiment import RetrieverExperiment
from workbench.retrieval.models import Retriever, build_retriever, text_encoder_of
from workbench.retrieval.options import TrainRetrieverConfig
from workbench.retrieval.training import train_retriever
from workbench.text.hotwords import hotword_key

Steps = Callable[[int, int], None]  # progress(done, total) in optimizer steps


@dataclass(frozen=True)
class TrainingData:
    examples: list[RetrievalExample]
    counts: dict[str, int]  # examples per source manifest
    excluded_hotwords: int  # hotwords of the evaluation sets (their utterances are left out)
    manifests: tuple[Path, ...]  # the training manifests, RADA's clips manifest among them
    excluded: frozenset[str] = frozenset()  # their keys: never a training text nor a hard negative


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
    return TrainingData(examples, counts, len(excluded), tuple(manifests), frozenset(excluded))


def _nearest_by_sound(words: Sequence[str], k: int, chunk: int = 512) -> list[list[str]]:
    """For each of ``words``, the ``k`` others with the smallest normalized phoneme edit distance
    (``phonetic.pronunciation`` units; ties by position), by chunks of a rapidfuzz distance matrix."""
    from rapidfuzz import process
    from rapidfuzz.distance import Levenshtein

    from workbench.retrieval.phonetic import pronunciation

    symbols: dict[str, str] = {}
    encoded = ["".join(symbols.setdefault(u, chr(0x100 + len(symbols))) for u in pronunciation(w)) for w in words]
    nearest = []
    for first in range(0, len(words), chunk):
        rows = process.cdist(encoded[first : first + chunk], encoded, scorer=Levenshtein.normalized_distance,
                             dtype=np.float32, workers=1)
        for offset, row in enumerate(rows):
            row[first + offset] = np.inf  # not its own neighbour
            order = np.argsort(row, kind="stable")[:k]
            nearest.append([words[i] for i in order if np.isfinite(row[i])])
    return nearest


def hard_negative_neighbours(examples: Sequence[RetrievalExample], k: int,
                             exclude: Collection[str] = ()) -> dict[str, tuple[str, ...]]:
    """Hotword key -> ``k`` sound-alike texts: first the dictionary's (``workbench.text.phonetics.
    phonetic_neighbours``: CMUdict words within a phoneme edit or two, same-syllable Han characters,
    Vietnamese tone and vowel variants), then, for rare words with fewer, the other training
    hotwords nearest in phoneme edit distance; never a word whose key is in ``exclude`` (the
    evaluation hotwords). Fixed and deterministic; empty for k = 0."""
    if k <= 0:
        return {}
    from workbench.text.phonetics import phonetic_neighbours

    words = list({hotword_key(h): h for e in examples for h in e.hotwords}.values())
    words = [w for w in words if hotword_key(w) not in exclude]
    pool = _nearest_by_sound(words, k)
    neighbours: dict[str, tuple[str, ...]] = {}
    for word, near in zip(words, pool):
        key = hotword_key(word)
        chosen: dict[str, str] = {}
        for candidate in (*phonetic_neighbours(word, None, limit=k + 8), *near):
            other = hotword_key(candidate)
            if other != key and other not in exclude and len(chosen) < k:
                chosen.setdefault(other, candidate)
        neighbours[key] = tuple(chosen.values())
    return neighbours


def load_states(config: TrainRetrieverConfig, experiment: RetrieverExperiment, frames: Path, ids):
    """(Whisper model, feature fingerprint, {id: encoder states}) of ``ids`` for the experiment's
    architecture: the store's states below the encoder blocks it fine-tunes."""
    from workbench.asr import load_whisper

    architecture = experiment.architecture_over(config.architecture)
    whisper_model = load_whisper(config.model, config.device)
    layout = Layout(OWN, architecture.audio_trainable_layers)
    fingerprint = feature_fingerprint(whisper_model, layout)
    return whisper_model, fingerprint, FeatureStore.open(frames, layout).check(fingerprint).load(ids)


def train_examples(experiment: RetrieverExperiment, config: TrainRetrieverConfig,
                   examples: Sequence[RetrievalExample], states: Mapping[str, torch.Tensor], whisper_model,
                   checkpoint_dir: Path, exclude: Collection[str] = (),
                   log_metrics: Callable[[dict, int], None] = lambda metrics, step: None,
                   progress: Steps = lambda done, total: None,
                   on_resume: Callable[[int], None] = lambda step: None) -> tuple[Retriever, int]:
    """A fresh retriever of ``experiment`` trained on ``examples`` (checkpoints in
    ``checkpoint_dir``; a run finding one there resumes from it); returns it and the epochs done."""
    architecture = experiment.architecture_over(config.architecture)
    torch.manual_seed(config.loop.seed)  # the initialization of the heads and of a from-scratch text tower
    text = text_encoder_of(architecture, config.text_model)
    model = build_retriever(experiment.method, whisper_model, text, architecture)
    neighbours = hard_negative_neighbours(examples, experiment.hard_negatives, exclude)
    epochs = train_retriever(
        model, examples, states, experiment.loss_weights(), config.loop, checkpoint_dir,
        cif_pretrain_epochs=experiment.cif_pretrain_epochs, fuzzy=config.fuzzy if experiment.fuzzy else None,
        log_metrics=log_metrics, on_resume=on_resume, progress=progress, neighbours=neighbours,
    )
    return model, epochs


@dataclass(frozen=True)
class TrainedRetriever:
    model: Retriever
    meta: dict  # what retriever.json records besides method and architecture
    summary: dict  # train.json
    seconds: float


def fit_retriever(experiment: RetrieverExperiment, config: TrainRetrieverConfig, data: TrainingData, frames: Path,
                  checkpoint_dir: Path, log_metrics: Callable[[dict, int], None] = lambda metrics, step: None,
                  progress: Steps = lambda done, total: None,
                  on_resume: Callable[[int], None] = lambda step: None) -> TrainedRetriever:
    """Train ``experiment`` on ``data`` with the encoder states of the feature store ``frames``;
    checkpoints in ``checkpoint_dir`` (a run finding one there resumes from it). The callbacks are
    the training loop's: per-step metrics, ``progress(done, total)`` steps, the step resumed from."""
    whisper_model, fingerprint, states = load_states(config, experiment, frames, (e.id for e in data.examples))
    resumed_from = 0

    def resumed(step: int) -> None:
        nonlocal resumed_from
        resumed_from = step
        on_resume(step)

    started = time.perf_counter()
    model, epochs = train_examples(experiment, config, data.examples, states, whisper_model, checkpoint_dir,
                                   data.excluded, log_metrics, progress, resumed)
    seconds = time.perf_counter() - started
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    meta = {"experiment": experiment.name, "rada": experiment.rada, "model": config.model,
            "text_model": config.text_model, "frames_fingerprint": fingerprint}
    summary = {"experiment": experiment.name, "method": experiment.method, "epochs": epochs,
               "examples": len(data.examples), "example_counts": data.counts,
               "excluded_hotwords": data.excluded_hotwords, "trainable_parameters": trainable,
               "train_seconds": round(seconds, 1), "resumed_from_step": resumed_from}
    return TrainedRetriever(model, meta, summary, seconds)


# --- the data-scale curve -----------------------------------------------------------------------


def word_subsets(examples: Sequence[RetrievalExample], sizes: Sequence[int | None],
                 seed: int = 0) -> dict[int, list[RetrievalExample]]:
    """Distinct training words -> the examples whose hotwords are all among them, for nested word
    sets: the first n words of one seeded permutation of the examples' distinct hotwords (by
    ``hotword_key``), so a smaller set is a subset of every larger one. A size of None, or one
    above the number of distinct words, is all of them; examples without hotwords are in none."""
    keys = sorted({hotword_key(h) for e in examples for h in e.hotwords})
    order = [keys[i] for i in np.random.default_rng(seed).permutation(len(keys))]
    subsets: dict[int, list[RetrievalExample]] = {}
    for size in sorted({len(keys) if s is None else min(s, len(keys)) for s in sizes}):
        if size < 1:
            raise ValueError(f"word subset sizes must be >= 1, got {size}")
        chosen = set(order[:size])
        subsets[size] = [e for e in examples if e.hotwords and all(hotword_key(h) in chosen for h in e.hotwords)]
    return subsets


def heldout_ratios(model: Retriever, queries: Sequence[RetrievalExample], states: Mapping[str, torch.Tensor],
                   words: Sequence[str], ks: Sequence[int], prefix: str = "",
                   clar_candidates: int | None = None) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per query, the (hits, gold) of exact R@k of ``queries`` (their hotwords are the gold)
    ranked by ``model`` over the candidate ``words`` (named ``<prefix>exact@<k>_recall``)."""
    from workbench.retrieval.evaluation import score_queries, text_features
    from workbench.retrieval.ranking import ranked_words

    model.eval()
    with torch.no_grad():
        embeddings = model.project_text(text_features(model, words))
    scored = score_queries(model, [states[q.id] for q in queries], embeddings, words, clar_candidates)
    ranked = ranked_words(scored.scores, list(words), max(ks))
    gold = [list(q.hotwords) for q in queries]
    ratios = {}
    for k in ks:
        counts = retrieval_counts(gold, ranked, k, "exact")
        ratios[f"{prefix}exact@{k}_recall"] = (counts.recalled, counts.gold)
    return ratios


@dataclass(frozen=True)
class ScaleCurve:
    """Held-out exact R@k of one experiment trained on nested sets of distinct training words."""

    sizes: tuple[int, ...]  # distinct training words of each point
    examples: tuple[int, ...]  # training examples of each point
    seconds: tuple[float, ...]  # training time of each point
    candidates: int  # held-out vocabulary size (chance R@1 = queries' gold / candidates)
    ratios: UtteranceRatios  # per held-out query: "words_<n>/exact@<k>_recall"
    ks: tuple[int, ...]

    def flat(self, intervals: IntervalConfig = IntervalConfig()) -> dict[str, float]:
        """``words_<n>/exact@<k>_recall`` with ``_ci_lo`` / ``_ci_hi``: bootstrap intervals over the
        held-out queries (what MLflow gets)."""
        found = self.ratios.intervals(intervals)
        return {**{name: interval.value for name, interval in found.items()}, **interval_metrics(found)}

    def metrics(self, intervals: IntervalConfig = IntervalConfig()) -> dict:
        """metrics.json: the curve's points, each with its R@k and their intervals."""
        rates = self.flat(intervals)
        points = [{"words": n, "examples": e, "train_seconds": round(s, 1),
                   **{name.split("/", 1)[1]: value for name, value in rates.items() if name.startswith(f"words_{n}/")}}
                  for n, e, s in zip(self.sizes, self.examples, self.seconds)]
        return {"queries": len(self.ratios.ids), "candidates": self.candidates, "ks": list(self.ks), "points": points}

    def table(self, intervals: IntervalConfig = IntervalConfig(), name: str = "retriever") -> str:
        """table.md: held-out R@k (with intervals) by distinct training words, as the report
        renders it (``reporting.studies.data_scale_table``); ``name``: the experiment."""
        from workbench.reporting.studies import data_scale_table

        return data_scale_table({name: self.metrics(intervals)}).to_markdown()


def scale_curve(experiment: RetrieverExperiment, config: TrainRetrieverConfig, train: Sequence[RetrievalExample],
                heldout: Sequence[RetrievalExample], states: Mapping[str, torch.Tensor], whisper_model,
                sizes: Sequence[int | None], work_dir: Path, ks: Sequence[int] = (1, 5),
                distractors: Sequence[str] = (), seed: int = 0, clar_candidates: int | None = None,
                progress: Steps = lambda done, total: None, exclude: Collection[str] = ()) -> ScaleCurve:
    """Train ``experiment`` on each nested word subset of ``train`` (``word_subsets``) and rank
    the ``heldout`` queries over their own hotwords plus ``distractors``. Training examples that
    mention a held-out hotword are left out first. Each size checkpoints in ``work_dir/words_<n>``
    (a rerun resumes there); ``progress`` counts finished sizes. No hard negative (``exclude``:
    keys of other evaluation hotwords) is a held-out hotword either."""
    heldout_keys = {hotword_key(h) for q in heldout for h in q.hotwords}
    queries = [q for q in heldout if q.hotwords]
    if not queries:
        raise InputError("the held-out set has no utterance with hotwords: nothing to retrieve")
    words = list({hotword_key(w): w for w in (*(h for q in queries for h in q.hotwords), *distractors)}.values())
    train = [e for e in train if not any(hotword_key(h) in heldout_keys for h in e.hotwords)]
    subsets = word_subsets(train, sizes, seed)
    ratios: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    counts, seconds = [], []
    progress(0, len(subsets))
    for done, (size, examples) in enumerate(subsets.items(), start=1):
        started = time.perf_counter()
        model, _ = train_examples(experiment, config, examples, states, whisper_model, work_dir / f"words_{size}",
                                  heldout_keys | set(exclude))
        seconds.append(time.perf_counter() - started)
        counts.append(len(examples))
        ratios.update(heldout_ratios(model, queries, states, words, ks, f"words_{size}/", clar_candidates))
        progress(done, len(subsets))
    return ScaleCurve(tuple(subsets), tuple(counts), tuple(seconds), len(words),
                      UtteranceRatios(tuple(q.id for q in queries), ratios), tuple(ks))
