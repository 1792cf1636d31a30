"""The speech LLM under each biasing condition (seed 000 Table 3, seed 001 Tables 3-4).

For every model and condition, NA (no list), GT (the utterance's annotated hotwords) and top-k
(the first k words a retriever ranked for the utterance, from ``eval_retrieval``'s
rankings.jsonl), the test set is decoded (greedily, and with joint beam search for
``joint_conditions``) and scored with ``workbench.metrics`` (one alignment: CER/WER, B-WER,
U-WER/U-CER, KER, SACC). Beside each list condition: the share of gold hotwords its lists hold
(the retriever's recall@k for top-k).

Every rate is also kept per utterance (:class:`UtteranceRatios`): each condition's bootstrap
interval (``<metric>_ci_lo``/``_ci_hi`` beside the metric), and ``ratios.json`` under the logged
names (``sft/greedy/NA/ker``), from which the report pairs SFT with GRPO and NA with top-k on the
same utterances.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from workbench.data.jsonl import read_jsonl
from workbench.data.manifest import Utterance
from workbench.errors import ConfigError, InputError
from workbench.metrics import Reference, Scorer
from workbench.metrics.intervals import UtteranceRatios, interval_metrics
from workbench.metrics.options import IntervalConfig
from workbench.reporting.table import Column, Estimate, Table
from workbench.speechllm.backbone import SpeechBackbone, load_backbone, read_speechllm_meta
from workbench.speechllm.data import backbone_layout, encoder_states
from workbench.speechllm.decoding import transcribe
from workbench.speechllm.options import EvalContextualConfig
from workbench.speechllm.prompts import (
    PromptConfig,
    condition_words,
    rankings_by_id,
    retrieved_count,
    with_format_of,
)
from workbench.text.hotwords import hotword_key

METRICS = ("wer", "cer", "b_wer", "u_wer", "u_cer", "ker", "sacc")
COLUMNS = (Column("condition", "text"), Column("decoding", "text"), Column("recall"), Column("WER"), Column("CER"),
           Column("B-WER"), Column("U-WER"), Column("U-CER"), Column("KER"), Column("SACC"))


def parse_models(items: Sequence[str]) -> dict[str, Path]:
    """``--models NAME=DIR ...`` as name -> directory, in the order given."""
    out: dict[str, Path] = {}
    for item in items:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise ConfigError(f"--models takes NAME=DIR pairs, got {item!r}")
        if name in out:
            raise ConfigError(f"--models: {name} given twice")
        out[name] = Path(path)
    return out


def read_rankings(path: Path | None, config: EvalContextualConfig,
                  utterances: Sequence[Utterance]) -> dict[str, list[str]]:
    """The ranked hotwords by utterance id the top-k conditions need (none without such a condition);
    every utterance with hotwords must have a ranking."""
    if not config.needs_rankings:
        return {}
    if path is None:
        raise ConfigError("top-k conditions need --rankings (an eval_retrieval rankings.jsonl) or --vocabulary "
                          "(the phonetic baseline ranks it)")
    ranked = rankings_by_id(list(read_jsonl(path)), config.ranking_method, source=str(path))
    if not ranked:
        raise InputError(f"{path}: no rows of method {config.ranking_method!r}")
    missing = [u.id for u in utterances if u.hotwords and u.id not in ranked]
    if missing:
        raise InputError(f"{path}: no ranking for {len(missing)} test utterance(s) with hotwords, e.g. {missing[:3]}")
    return ranked


def phonetic_rankings(utterances: Sequence[Utterance], hypotheses: Sequence[str], words: Sequence[str],
                      depth: int) -> dict[str, list[str]]:
    """Each utterance's top ``depth`` of ``words`` by the phonetic baseline (``workbench.retrieval.phonetic``)
    queried with its ASR hypothesis, as ``rankings_by_id`` gives them."""
    from workbench.retrieval.phonetic import PhoneticRetriever
    from workbench.retrieval.ranking import ranked_words

    retriever = PhoneticRetriever(words)
    scores = retriever.score(list(hypotheses), [u.language for u in utterances])
    ranked = ranked_words(scores, retriever.words, min(depth, len(words)), retriever.tie_order)
    return {u.id: row for u, row in zip(utterances, ranked)}


def vanilla_rankings(utterances: Sequence[Utterance], frames: Sequence[Path], words: Sequence[str],
                     config: EvalContextualConfig) -> dict[str, list[str]]:
    """Top-k lists for a corpus without rankings: the untouched Whisper's greedy 1-best of each
    utterance, matched phonetically against ``words`` (the phonetic baseline of eval_retrieval)."""
    if config.vanilla is None:
        raise ConfigError("phonetic rankings from --vocabulary need eval_contextual.vanilla (a Whisper checkpoint)")
    from workbench.features import PADDED

    states = encoder_states(list(frames), config.vanilla, (u.id for u in utterances), PADDED)
    model = _vanilla(config.vanilla).to(config.device).eval()
    hypotheses = transcribe(model, [states[u.id] for u in utterances], [()] * len(utterances), config.decoding,
                            languages=[u.language for u in utterances])
    depth = max(retrieved_count(c) or 0 for c in (*config.conditions, *config.joint_conditions))
    return phonetic_rankings(utterances, hypotheses, words, depth)


def list_rankings(rankings: Path | None, vocabulary: Sequence[Path] | None, utterances: Sequence[Utterance],
                  frames: Sequence[Path], config: EvalContextualConfig) -> dict[str, list[str]]:
    """The top-k lists: ``rankings`` (an eval_retrieval rankings.jsonl), else the phonetic baseline
    over the ``vocabulary`` lists queried with the vanilla Whisper's 1-best, else none."""
    if rankings is None and vocabulary and config.needs_rankings:
        from workbench.text.hotwords import read_hotword_lists

        return vanilla_rankings(utterances, frames, read_hotword_lists(vocabulary).phrases, config)
    return read_rankings(rankings, config, utterances)


def list_recall_ratios(gold: Sequence[Sequence[str]],
                       lists: Sequence[Sequence[str]]) -> tuple[np.ndarray, np.ndarray]:
    """Per utterance: its gold hotwords present in its list (exact, case-folded), and its gold hotwords."""
    hits = []
    for words, listed in zip(gold, lists):
        keys = {hotword_key(x) for x in listed}
        hits.append(sum(hotword_key(w) in keys for w in words))
    return np.array(hits, dtype=np.int64), np.array([len(words) for words in gold], dtype=np.int64)


def recall_at(gold: Sequence[Sequence[str]], lists: Sequence[Sequence[str]]) -> float | None:
    """Share of gold hotwords present in the lists (exact, case-folded); None without gold hotwords."""
    hits, total = (int(a.sum()) for a in list_recall_ratios(gold, lists))
    return hits / total if total else None


def condition_scores(scorer: Scorer, references: Sequence[Reference], texts: Sequence[str],
                     gold: Sequence[Sequence[str]], lists: Sequence[Sequence[str]] | None,
                     intervals: IntervalConfig) -> tuple[dict, UtteranceRatios]:
    """The scores of one decoding pass (METRICS, keywords, list_recall: None without a list or gold
    hotwords) with each rate's interval, and the rates per utterance, whose sums give the scores."""
    corpus = scorer.score_corpus(zip(references, texts))
    metrics = corpus.as_metrics()
    scores = {k: metrics[k] for k in (*METRICS, "keywords")}
    per_utterance = UtteranceRatios.from_corpus((r.id for r in references), corpus)
    rates = {k: per_utterance.metrics[k] for k in METRICS}
    scores["list_recall"] = recall_at(gold, lists) if lists is not None else None
    if scores["list_recall"] is not None:
        rates["list_recall"] = list_recall_ratios(gold, lists)
    ratios = UtteranceRatios(per_utterance.ids, rates)
    # every pass resamples the same utterances with the same seed: its intervals are those of the merged ratios
    scores.update(interval_metrics(ratios.intervals(intervals)))
    return scores, ratios


@dataclass(frozen=True)
class ConditionResult:
    """One model decoded under one condition: its scores and its hypotheses."""

    model: str
    condition: str
    decoding: str  # "greedy" | "joint"
    scores: dict  # METRICS, keywords, list_recall (None for NA), seconds_per_utterance, <rate>_ci_lo/_ci_hi
    hypotheses: list[dict]
    ratios: UtteranceRatios  # the rates of ``scores`` per utterance (unprefixed names)

    @property
    def prefix(self) -> str:
        return f"{self.model}/{self.decoding}/{self.condition}/"

    def tracked_metrics(self) -> dict[str, float]:
        return {self.prefix + k: v for k, v in self.scores.items() if v is not None}

    def tracked_ratios(self) -> UtteranceRatios:
        """The per-utterance rates by the names ``tracked_metrics`` logs (``sft/greedy/NA/ker``)."""
        return UtteranceRatios(self.ratios.ids, {self.prefix + k: v for k, v in self.ratios.metrics.items()})


@dataclass
class ContextualEvaluation:
    """The condition results of every model, as metrics.json, hypotheses and one table per model."""

    utterances: int
    ranking_method: str
    rankings: str | None
    results: list[ConditionResult] = field(default_factory=list)

    def metrics(self) -> dict:
        models: dict[str, dict] = {}
        for r in self.results:
            models.setdefault(r.model, {}).setdefault(r.decoding, {})[r.condition] = r.scores
        return {"utterances": self.utterances, "ranking_method": self.ranking_method, "rankings": self.rankings,
                "models": models}

    def hypotheses(self) -> list[dict]:
        return [h for r in self.results for h in r.hypotheses]

    def ratios(self) -> UtteranceRatios:
        """Every result's per-utterance rates under its logged names, merged (ratios.json)."""
        tracked = [r.tracked_ratios() for r in self.results]
        return tracked[0].merged(*tracked[1:]) if tracked else UtteranceRatios((), {})

    def tables(self) -> list[Table]:
        def cell(row: dict, key: str):
            lo, hi = row.get(f"{key}_ci_lo"), row.get(f"{key}_ci_hi")
            return row.get(key) if lo is None or hi is None else Estimate(row.get(key), lo, hi)

        return [Table(f"contextual_{model}", model, COLUMNS,
                      [(condition, decoding, *(cell(row, k) for k in ("list_recall", *METRICS)))
                       for decoding, rows in blocks.items() for condition, row in rows.items()])
                for model, blocks in self.metrics()["models"].items()]

    def markdown(self) -> str:
        return "\n".join(table.to_markdown() for table in self.tables())


def _vanilla(checkpoint: str) -> SpeechBackbone:
    from workbench.speechllm.whisper_backbone import WhisperBackboneConfig, build_whisper_backbone

    return build_whisper_backbone(checkpoint, WhisperBackboneConfig(), lora=False)


def evaluate_contextual(models: Mapping[str, Path], utterances: Sequence[Utterance], frames: Sequence[Path],
                        ranked: Mapping[str, list[str]], config: EvalContextualConfig,
                        progress: Callable[[int], None] | None = None,
                        audio_dir: Path | None = None) -> Iterator[ConditionResult]:
    """Decode and score every model (``vanilla`` first when configured) under every condition
    (``config.runs``), one result at a time; ``progress`` gets the clips decoded after each batch.
    ``audio_dir``: the directory the utterances' audio paths are relative to (the manifest's; an
    audio_lm model reads the files)."""
    metas = {name: read_speechllm_meta(directory) for name, directory in models.items()}  # all readable before decoding
    if config.vanilla is not None:
        if "vanilla" in models:
            raise ConfigError("--models: the name vanilla is taken by eval_contextual.vanilla (set it to null)")
        metas = {"vanilla": {"backbone": "whisper", "whisper": config.vanilla}, **metas}
    scorer = Scorer(config.normalization)
    references = [Reference.from_utterance(u) for u in utterances]
    gold = [list(u.hotwords or ()) for u in utterances]
    languages = [u.language for u in utterances]
    lists = {c: [condition_words(c, u.hotwords or (), ranked.get(u.id, [])) for u in utterances]
             for c in dict.fromkeys((*config.conditions, *config.joint_conditions))}
    states_by_layout: dict[tuple[str, str], dict] = {}
    for name, meta in metas.items():
        key = (backbone_layout(meta), meta["whisper"])
        if key not in states_by_layout:
            audio = None if audio_dir is None else {u.id: u.audio_path(audio_dir) for u in utterances}
            states_by_layout[key] = encoder_states(list(frames), key[1], (u.id for u in utterances), key[0], audio)
        states = states_by_layout[key]
        model = (_vanilla(config.vanilla) if name == "vanilla" and name not in models
                 else load_backbone(models[name], config.lm)).to(config.device).eval()
        prompts = with_format_of(PromptConfig(), meta.get("prompts"))
        for condition, decoding, options in config.runs:
            started = time.perf_counter()
            texts = transcribe(model, [states[u.id] for u in utterances], lists[condition], options, prompts,
                               languages, progress)
            seconds = time.perf_counter() - started
            scores, ratios = condition_scores(scorer, references, texts, gold,
                                              lists[condition] if condition != "NA" else None, config.intervals)
            scores["seconds_per_utterance"] = seconds / max(1, len(utterances))
            hypotheses = [{"id": u.id, "model": name, "condition": condition, "decoding": decoding, "list": list(words),
                           "reference": u.text, "hypothesis": t}
                          for u, words, t in zip(utterances, lists[condition], texts)]
            yield ConditionResult(name, condition, decoding, scores, hypotheses, ratios)
