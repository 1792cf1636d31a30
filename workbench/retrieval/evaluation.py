"""Scoring a test set's utterances against hotword vocabularies with a trained retriever.

Vocabularies of every size share one order (gold hotwords, then the project's lists, then
seeded distractors; ``vocabulary.build_vocabulary``), so each smaller vocabulary is a prefix of
the largest: text features are computed once, for the largest, and sliced.

- GLCLAP and CLSR: cosine of the utterance embedding with each hotword embedding.
- CLAR: the same global cosine picks the top-M candidates (FAISS), then the length-aware
  localized window score (``localized.py``) ranks them, optionally standardized per hotword
  token length (``clar_length_normalization``); words outside the pool rank below.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import safetensors.torch
import torch

from workbench.data import Utterance, read_manifest
from workbench.data.atomic import atomic_path, write_text_atomic
from workbench.data.jsonl import read_jsonl
from workbench.errors import ConfigError, InputError
from workbench.features import OWN as OWN_LENGTH
from workbench.features import FeatureStore, Layout
from workbench.metrics.intervals import UtteranceRatios, interval_metrics
from workbench.metrics.retrieval import retrieval_counts
from workbench.reporting.table import Column, Estimate, Table, format_cell
from workbench.retrieval.index import HotwordIndex
from workbench.retrieval.localized import LengthBuckets, normalize_by_length, score_buckets
from workbench.retrieval.longform import longform_recall
from workbench.retrieval.models import CLAR, Retriever
from workbench.retrieval.options import LISTS, OWN, EvalRetrievalConfig
from workbench.retrieval.phonetic import PhoneticRetriever
from workbench.retrieval.ranking import FusionChoice, fuse, ranked_words, tune_fusion
from workbench.retrieval.vocabulary import Vocabulary, build_vocabulary
from workbench.text.hotwords import hotword_key, read_hotword_list, read_hotword_lists


@torch.no_grad()
def text_features(model: Retriever, words: Sequence[str], batch_size: int = 512, progress=None) -> torch.Tensor:
    """Pooled text-encoder outputs [V, dim] of ``words`` (before projection)."""
    rows = []
    for first in range(0, len(words), batch_size):
        rows.append(model.text_features(words[first : first + batch_size]).float())
        if progress is not None:
            progress.update(min(batch_size, len(words) - first))
    return torch.cat(rows) if rows else torch.empty(0, model.text.dim)


@dataclass(frozen=True)
class ScoredQueries:
    scores: np.ndarray  # [Q, V] float32; -inf outside CLAR's candidate pool
    seconds_per_query: float


@torch.no_grad()
def score_queries(model: Retriever, states: Sequence[torch.Tensor], vocabulary_embeddings: torch.Tensor,
                  words: Sequence[str], clar_candidates: int | None = None,
                  length_normalized: bool = False) -> ScoredQueries:
    """Scores of each utterance (encoder states [T, d]) against projected, normalized
    ``vocabulary_embeddings`` [V, P]; CLAR's localized scores standardized per hotword token
    length with ``length_normalized`` (``localized.normalize_by_length``)."""
    started = time.perf_counter()
    queries = model.query_embeddings(states)  # [Q, P] global embeddings
    vocab = vocabulary_embeddings.float()
    if not isinstance(model, CLAR):
        scores = (queries @ vocab.T).numpy()
        return ScoredQueries(scores, (time.perf_counter() - started) / max(1, len(states)))
    lengths = model.text_lengths(words)
    scores = np.full((len(states), len(words)), -np.inf, dtype=np.float32)
    pool_all = clar_candidates is None or clar_candidates >= len(words)
    buckets = LengthBuckets.build(vocab, lengths) if pool_all else None
    pools = None if pool_all else HotwordIndex(vocab.numpy(), words).top_candidates(queries.numpy(), clar_candidates)
    for q, utterance in enumerate(states):
        frames, spans = model.alignments(utterance)
        pool = slice(None) if pool_all else torch.from_numpy(pools[q])
        local = score_buckets(frames, spans, buckets or LengthBuckets.build(vocab[pool], lengths[pool])).scores
        if length_normalized:
            local = normalize_by_length(local, lengths[pool])
        scores[q, slice(None) if pool_all else pools[q]] = local.numpy()
    return ScoredQueries(scores, (time.perf_counter() - started) / max(1, len(states)))


def finite_floor(scores: np.ndarray) -> np.ndarray:
    """-inf (outside a candidate pool) replaced by the row's finite minimum, for fusion."""
    out = scores.copy()
    for row in out:
        finite = np.isfinite(row)
        row[~finite] = row[finite].min() if finite.any() else 0.0
    return out


# --- a test set's evaluation for vocabularies of several sizes (the eval_retrieval stage) ---------


class _NoBar:
    def __enter__(self) -> _NoBar:
        return self

    def __exit__(self, *exc) -> None:
        return None

    def update(self, n: int = 1) -> None:
        pass


def no_progress(total: int | None, desc: str, unit: str = "item") -> _NoBar:
    """A progress factory that shows nothing (the stage passes ``context.progress`` instead)."""
    return _NoBar()


Progress = Callable[..., Any]  # (total, desc, unit) -> a context manager with update(n)
TEXT_CACHE = "minilm.safetensors"


def cached_text_features(model: Retriever, words: Sequence[str], cache: Path | None, batch_size: int = 512,
                         progress: Progress = no_progress) -> torch.Tensor:
    """Text features [len(words), dim] of ``words``. A frozen pretrained text encoder gives every
    experiment the same features for a word, so they are kept by word in ``cache`` (one matrix and
    its word list) and only new words are computed; other text towers are computed every time."""
    frozen = model.config.text_encoder == "minilm" and not any(p.requires_grad for p in model.text.parameters())
    matrix_path = cache / TEXT_CACHE if cache is not None and frozen else None
    known: dict[str, int] = {}
    stored = torch.empty(0, model.text.dim)
    if matrix_path is not None and matrix_path.is_file() and matrix_path.with_suffix(".json").is_file():
        stored = safetensors.torch.load_file(str(matrix_path))["features"]
        known = {w: i for i, w in enumerate(json.loads(matrix_path.with_suffix(".json").read_text(encoding="utf-8")))}
    new = [w for w in dict.fromkeys(words) if w not in known]
    if new:
        with progress(len(new), "vocabulary text features", unit="word") as bar:
            fresh = text_features(model, new, batch_size, bar)
        known.update({w: len(known) + i for i, w in enumerate(new)})
        stored = torch.cat([stored, fresh])
        if matrix_path is not None:
            matrix_path.parent.mkdir(parents=True, exist_ok=True)
            with atomic_path(matrix_path) as tmp:
                safetensors.torch.save_file({"features": stored.contiguous()}, str(tmp))
            write_text_atomic(matrix_path.with_suffix(".json"), json.dumps(list(known), ensure_ascii=False))
    return stored[torch.tensor([known[w] for w in words], dtype=torch.long)]


@dataclass(frozen=True)
class RetrievalTestSet:
    """The queries of a test set (utterances with annotated hotwords) and their ASR 1-best."""

    queries: tuple[Utterance, ...]
    hypotheses: tuple[str, ...]  # the 1-best of each query
    excluded: int  # utterances without hotwords: not queries
    root: Path  # where the manifest's audio paths start

    @property
    def gold(self) -> list[list[str]]:
        return [list(u.hotwords) for u in self.queries]


def read_test_set(manifest: Path, hypotheses: Path) -> RetrievalTestSet:
    """The test manifest's queries with their hypotheses (``hypothesis`` or ``text`` of the
    evaluate stage's hypotheses.jsonl); InputError without queries or with queries lacking one."""
    utterances = read_manifest(manifest)
    queries = [u for u in utterances if u.hotwords]
    if not queries:
        raise InputError(f"{manifest}: no utterance has `hotwords`: nothing to retrieve")
    by_id = {r["id"]: r.get("hypothesis", r.get("text", "")) for r in read_jsonl(hypotheses)}
    missing = [u.id for u in queries if u.id not in by_id]
    if missing:
        raise InputError(f"{hypotheses} lacks {len(missing)} test utterance(s): {missing[:5]}")
    return RetrievalTestSet(tuple(queries), tuple(by_id[u.id] for u in queries), len(utterances) - len(queries),
                            manifest.parent)


@dataclass(frozen=True)
class VocabularyLists:
    """The project's hotword lists as one list; for a RADA-trained retriever, only the words RADA kept."""

    words: tuple[str, ...]
    rada: dict | None = None  # {"lists_before", "lists_after"} when RADA filtered them


def vocabulary_lists(paths: Sequence[Path], meta: Mapping, rada: Path | None) -> VocabularyLists:
    """The lists of ``paths`` (``read_hotword_lists``' rule), filtered by RADA's ``kept.txt`` when the
    retriever (its ``meta``) was trained with RADA."""
    words = read_hotword_lists(paths).phrases
    if not meta.get("rada"):
        return VocabularyLists(words)
    if rada is None:
        raise ConfigError(
            f"retriever {meta.get('experiment')!r} was trained with RADA: pass --rada <rada stage output>")
    kept = {hotword_key(w) for w in read_hotword_list(rada / "kept.txt")}
    filtered = tuple(w for w in words if hotword_key(w) in kept)
    return VocabularyLists(filtered, {"lists_before": len(words), "lists_after": len(filtered)})


def query_states(frames: Path | None, meta: Mapping, test: RetrievalTestSet) -> dict[str, torch.Tensor]:
    """The queries' encoder states from the feature store the retriever was trained on."""
    if frames is None:
        raise ConfigError("--frames (the feature store) is needed to evaluate a learned retriever")
    layout = Layout(OWN_LENGTH, meta["architecture"]["audio_trainable_layers"])
    return FeatureStore.open(frames, layout).check(meta["frames_fingerprint"]).load(u.id for u in test.queries)


def vocabulary_prefixes(settings: Sequence[str], vocabulary: Vocabulary) -> dict[str, int]:
    """Words of each ``vocabularies`` setting, a prefix of the largest vocabulary: the gold words
    (own), plus the lists (lists), or a number of words (never fewer than gold plus lists)."""
    lists = vocabulary.gold_count + vocabulary.extra_count
    return {s: vocabulary.gold_count if s == OWN else lists if s == LISTS else max(int(s), lists) for s in settings}


@dataclass(frozen=True)
class RetrievalEvaluation:
    """What eval_retrieval writes: metrics.json, rankings.jsonl (table vocabulary), table.md, and
    the per-item counts behind every recall and precision (ratios.json, ratios_longform.json)."""

    metrics: dict  # with "<metric>_ci_lo" / "<metric>_ci_hi" beside each rate that has an interval
    rankings: tuple[dict, ...]  # top-k words per query and scorer on the table's vocabulary
    tracked: dict[str, float]  # "<vocabulary>/<scorer>/<metric>" and "longform/<metric>", with intervals
    ks: tuple[int, ...]
    # per test utterance (query): "<vocabulary>/<scorer>/<mode>@<k>_recall|_precision", "longform/q2c_r@<k>"
    ratios: UtteranceRatios
    window_ratios: UtteranceRatios | None  # per long-form window: "longform/c2q_r@<k>" (None: no long-form)
    params: dict[str, str] = field(default_factory=dict)  # "fusion_<vocabulary>": the fusion used (MLflow params)

    def table(self) -> str:
        """table.md: R@k, F1@1 and substring R@1 per vocabulary and scorer, and the long-form recall."""
        m = self.metrics
        columns = [Column("vocabulary", "text"), Column("words", "count"), Column("scorer", "text")]
        columns += [Column(name, digits=1) for name in (*(f"R@{k}" for k in self.ks), "F1@1", "substring R@1")]
        rows = [[setting, count, name, *(_estimate(scores, f"exact@{k}_recall") for k in self.ks),
                 scores["exact@1_f1"], _estimate(scores, "substring@1_recall")]
                for setting, count in m["vocabularies"].items()
                for name in SCORERS if (scores := m.get(setting, {}).get(name)) is not None]
        text = (f"## {m['experiment']} ({m['method']}): {m['queries']} queries, {m['excluded_no_hotwords']} utterances "
                f"without hotwords excluded\n\n" + Table("retrieval", "", columns, rows).grid())
        fusions = {setting: m[setting]["fusion"] for setting in m["vocabularies"] if "fusion" in m.get(setting, {})}
        if fusions:
            text += "\nFusion " + ("(tuned on the dev queries' exact R@1: fused / learned / phonetic): "
                                    if any(f["tuned"] for f in fusions.values()) else "(fixed): ") + "; ".join(
                f"{setting} {f['method']} w={f['weight']:g}" + (
                    f" ({100 * f['dev_exact@1_recall']:.1f} / {100 * f['dev_learned_exact@1_recall']:.1f} / "
                    f"{100 * f['dev_phonetic_exact@1_recall']:.1f})" if f["tuned"] else "")
                for setting, f in fusions.items()) + "\n"
        longform = m.get("longform")
        if longform:
            text += (f"\nLong-form ({longform['queries']} hotword queries, {longform['windows']} windows of "
                     f"{longform['window_seconds']:g} s): "
                     + "; ".join(", ".join(f"{label} R@{k} {format_cell(_estimate(longform, f'{key}_r@{k}'), digits=1)}"
                                           for k in self.ks) for label, key in (("Q→C", "q2c"), ("C→Q", "c2q")))
                     + "\n")
        return text


def _estimate(block: Mapping, name: str) -> Estimate:
    """A rate of a metrics.json block with its interval where it has one."""
    return Estimate(block[name], block.get(f"{name}_ci_lo"), block.get(f"{name}_ci_hi"))


SCORERS = ("phonetic", "learned", "fused")


def _at_k(gold: list[list[str]], ranked: list[list[str]], ks: Sequence[int],
          prefix: str) -> tuple[dict[str, float], dict[str, tuple[np.ndarray, np.ndarray]]]:
    """Recall / precision / F1 at each k and match mode, and the per-utterance counts of recall
    and precision (names prefixed); F1 has none, see ``RetrievalCounts.ratios``."""
    metrics, ratios = {}, {}
    for mode in ("exact", "substring"):
        for k in ks:
            counts = retrieval_counts(gold, ranked, k, mode)
            metrics.update(counts.result().as_metrics())
            ratios.update(counts.ratios(prefix))
    return metrics, ratios


def _nest(results: dict, flat: Mapping[str, float]) -> None:
    """Flat names (``lists/fused/exact@1_recall_ci_lo``) into metrics.json's nested blocks, where
    ``reporting.results.ResultsFile`` finds a name by its ``/`` parts."""
    for name, value in flat.items():
        *path, key = name.split("/")
        node = results
        for part in path:
            node = node[part]
        node[key] = value


@dataclass(frozen=True)
class DevQueries:
    """The dev split's queries (their ASR 1-best in ``test``) and encoder states: what the fusion
    of the learned and phonetic scores is tuned on (``EvalRetrievalConfig.fusion: dev``)."""

    test: RetrievalTestSet
    states: Mapping[str, torch.Tensor]


def read_dev_queries(manifest: Path | None, hypotheses: Path | None, frames: Path | None,
                     meta: Mapping) -> DevQueries | None:
    """The dev queries (``read_test_set``) with their encoder states, or None without a manifest."""
    if manifest is None and hypotheses is None:
        return None
    if manifest is None or hypotheses is None:
        raise ConfigError("the dev queries need both --dev-manifest and --dev-hypotheses")
    test = read_test_set(manifest, hypotheses)
    return DevQueries(test, query_states(frames, meta, test))


def _largest(settings: Sequence[str], gold_words: Sequence[str], lists: VocabularyLists) -> int | None:
    minimum = len(set(map(hotword_key, list(gold_words) + list(lists.words))))  # gold and lists, once each
    return max((max(int(s), minimum) for s in settings if s not in (OWN, LISTS)), default=None)


def _unique_gold(test: RetrievalTestSet) -> list[str]:
    return list(dict.fromkeys(h for g in test.gold for h in g))


def evaluate_retrieval(test: RetrievalTestSet, lists: VocabularyLists, config: EvalRetrievalConfig,
                       model: Retriever | None = None, meta: Mapping | None = None,
                       states: Mapping[str, torch.Tensor] | None = None, text_cache: Path | None = None,
                       progress: Progress = no_progress, dev: DevQueries | None = None) -> RetrievalEvaluation:
    """R@k / F1 (exact and substring) of the phonetic baseline and, with a ``model`` (its ``meta``
    and the queries' encoder ``states``), the learned retriever and their fusion, for every
    vocabulary size of ``config``; plus seed 002's long-form recall for GLCLAP and CLSR. Every
    recall, precision and long-form R@k gets a bootstrap interval (``config.intervals``) over
    test utterances (long-form C→Q: over windows).

    Gold hotwords come first in the vocabulary, then ``lists``, then seeded distractors, so each
    smaller vocabulary is a prefix of the largest: scores are computed once and sliced.

    Fusion (``config.fusion``): ``fixed`` interpolates min-max scores at ``fusion_weight``; ``dev``
    scores the ``dev`` queries against dev vocabularies built the same way (dev gold hotwords
    first), and per vocabulary size takes the calibration and weight ``ranking.tune_fusion``
    chooses there (metrics.json ``<vocabulary>.fusion``).
    """
    meta = meta or {}
    tuned = model is not None and config.fusion == "dev"
    if tuned and dev is None:
        raise ConfigError("eval_retrieval.fusion is dev: pass the dev queries (--dev-manifest, --dev-hypotheses) "
                          "to tune the fusion on, or set fusion=fixed")
    gold = test.gold
    gold_words = _unique_gold(test)
    vocabulary = build_vocabulary(gold_words, _largest(config.vocabularies, gold_words, lists),
                                  config.distractor_sources, config.seed, extra=lists.words)
    prefix = vocabulary_prefixes(config.vocabularies, vocabulary)
    words_all = list(vocabulary.words)
    if tuned:  # the dev vocabularies: dev gold first; words the test's lack are scored after the test's
        dev_gold_words = _unique_gold(dev.test)
        dev_vocabulary = build_vocabulary(dev_gold_words, _largest(config.vocabularies, dev_gold_words, lists),
                                          config.distractor_sources, config.seed, extra=lists.words)
        column = {hotword_key(w): i for i, w in enumerate(words_all)}
        for word in dev_vocabulary.words:
            column.setdefault(hotword_key(word), len(words_all))
            if column[hotword_key(word)] == len(words_all):
                words_all.append(word)
        dev_columns = np.array([column[hotword_key(w)] for w in dev_vocabulary.words], dtype=np.int64)
        dev_prefix = vocabulary_prefixes(config.vocabularies, dev_vocabulary)
    results: dict = {"experiment": meta.get("experiment", "phonetic"), "method": meta.get("method", "phonetic"),
                     "queries": len(test.queries), "excluded_no_hotwords": test.excluded, "vocabularies": prefix}
    if lists.rada:
        results["rada"] = lists.rada
    started = time.perf_counter()
    phonetic = PhoneticRetriever(words_all, config.language_hint, progress)
    phonetic_scores = phonetic.score(list(test.hypotheses))
    results["phonetic_seconds"] = round(time.perf_counter() - started, 2)
    if model is not None:
        features = cached_text_features(model, words_all, text_cache, config.batch_size, progress)
        with torch.no_grad():
            embeddings = model.project_text(features)
        utterance_states = [states[u.id] for u in test.queries]
    if tuned:
        dev_phonetic = phonetic.score(list(dev.test.hypotheses))
        dev_states = [dev.states[u.id] for u in dev.test.queries]
        results["fusion_dev_queries"] = len(dev.test.queries)
    tracked: dict[str, float] = {}
    params: dict[str, str] = {}
    rankings: list[dict] = []
    per_utterance: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for setting, count in prefix.items():
        words = words_all[:count]
        block: dict[str, dict] = {}
        scored = {"phonetic": phonetic_scores[:, :count]}
        if model is not None:
            result = score_queries(model, utterance_states, embeddings[:count], words, config.clar_candidates,
                                   config.clar_length_normalization)
            scored["learned"] = result.scores
            block["seconds_per_query"] = result.seconds_per_query
            if tuned:
                columns = dev_columns[: dev_prefix[setting]]
                dev_words = [words_all[c] for c in columns]
                dev_learned = score_queries(model, dev_states, embeddings[columns], dev_words, config.clar_candidates,
                                            config.clar_length_normalization)
                position = {hotword_key(w): i for i, w in enumerate(dev_words)}
                choice = tune_fusion(finite_floor(dev_learned.scores), dev_phonetic[:, columns],
                                     [[position[hotword_key(h)] for h in g] for g in dev.test.gold],
                                     config.fusion_methods, config.fusion_steps, config.rrf_k,
                                     tiebreak=phonetic.tie_order[columns])
            else:
                choice = FusionChoice("minmax", config.fusion_weight)
            scored["fused"] = fuse(finite_floor(result.scores), phonetic_scores[:, :count], choice.weight,
                                   choice.method, config.rrf_k)
            block["fusion"] = choice.as_metrics()
            tracked.update({f"{setting}/fusion/{k}": float(v) for k, v in block["fusion"].items()
                            if isinstance(v, (int, float)) and not isinstance(v, bool)})
            params[f"fusion_{setting}"] = f"{choice.method} w={choice.weight:g}"
        for name, scores in scored.items():
            # ties (frequent in the phonetic scores) by the baseline's vocabulary-order-free key:
            # by position they would favour the gold words, which come first
            ranked = ranked_words(scores, words, max(config.ks), tiebreak=phonetic.tie_order[:count])
            block[name], counts = _at_k(gold, ranked, config.ks, f"{setting}/{name}/")
            per_utterance.update(counts)
            tracked.update({f"{setting}/{name}/{k}": v for k, v in block[name].items()})
            if setting == config.table_vocabulary:
                rankings.extend({"id": u.id, "method": name, "gold": g, "top": r}
                                for u, g, r in zip(test.queries, gold, ranked))
        results[setting] = block
    ids = [u.id for u in test.queries]
    windows = None
    if model is not None and model.method in ("glclap", "clsr") and config.longform_clips_per_recording:
        longform = longform_recall(model, meta, test.queries, test.root, config.longform_clips_per_recording,
                                   config.longform_window_seconds, config.ks, progress)
        results["longform"] = longform.metrics()
        tracked.update({f"longform/{k}": v for k, v in results["longform"].items() if isinstance(v, float)})
        per_utterance.update(longform.utterance_ratios(ids, "longform/").metrics)
        windows = longform.window_ratios("longform/")
    ratios = UtteranceRatios(tuple(ids), per_utterance)
    intervals = interval_metrics({**ratios.intervals(config.intervals),
                                  **(windows.intervals(config.intervals) if windows is not None else {})})
    _nest(results, intervals)
    tracked.update(intervals)
    return RetrievalEvaluation(results, tuple(rankings), tracked, tuple(config.ks), ratios, windows, params)
