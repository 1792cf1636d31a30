"""The speech LLM under each biasing condition (seed 000 Table 3, seed 001 Tables 3-4).

For every model and condition, NA (no list), GT (the utterance's annotated hotwords) and top-k
(the first k words a retriever ranked for the utterance, from ``eval_retrieval``'s
rankings.jsonl), the test set is decoded (greedily, and with joint beam search for
``joint_conditions``) and scored with ``workbench.metrics`` (one alignment: CER/WER, B-WER,
U-WER/U-CER, KER, SACC). Beside each list condition: the share of gold hotwords its lists hold
(the retriever's recall@k for top-k).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from workbench.data.jsonl import read_jsonl
from workbench.data.manifest import Utterance
from workbench.errors import ConfigError, InputError
from workbench.metrics import Reference, Scorer
from workbench.reporting.table import Column, Table
from workbench.speechllm.data import encoder_states
from workbench.speechllm.decoding import transcribe
from workbench.speechllm.model import load_speechllm, read_speechllm_meta
from workbench.speechllm.options import EvalContextualConfig
from workbench.speechllm.prompts import PromptConfig, condition_words, rankings_by_id, with_format_of
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
        raise ConfigError("top-k conditions need --rankings (an eval_retrieval rankings.jsonl)")
    ranked = rankings_by_id(list(read_jsonl(path)), config.ranking_method, source=str(path))
    if not ranked:
        raise InputError(f"{path}: no rows of method {config.ranking_method!r}")
    missing = [u.id for u in utterances if u.hotwords and u.id not in ranked]
    if missing:
        raise InputError(f"{path}: no ranking for {len(missing)} test utterance(s) with hotwords, e.g. {missing[:3]}")
    return ranked


def recall_at(gold: list[list[str]], lists: list[tuple[str, ...]]) -> float | None:
    """Share of gold hotwords present in the lists (exact, case-folded)."""
    total = sum(len(g) for g in gold)
    if not total:
        return None
    hits = sum(hotword_key(w) in {hotword_key(x) for x in lst} for g, lst in zip(gold, lists) for w in g)
    return hits / total


@dataclass(frozen=True)
class ConditionResult:
    """One model decoded under one condition: its scores and its hypotheses."""

    model: str
    condition: str
    decoding: str  # "greedy" | "joint"
    scores: dict  # METRICS, keywords, list_recall (None for NA), seconds_per_utterance
    hypotheses: list[dict]

    def tracked_metrics(self) -> dict[str, float]:
        prefix = f"{self.model}/{self.decoding}/{self.condition}"
        return {f"{prefix}/{k}": v for k, v in self.scores.items() if v is not None}


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

    def tables(self) -> list[Table]:
        return [Table(f"contextual_{model}", model, COLUMNS,
                      [(condition, decoding, row.get("list_recall"), *(row.get(k) for k in METRICS))
                       for decoding, rows in blocks.items() for condition, row in rows.items()])
                for model, blocks in self.metrics()["models"].items()]

    def markdown(self) -> str:
        return "\n".join(table.to_markdown() for table in self.tables())


def evaluate_contextual(models: Mapping[str, Path], utterances: Sequence[Utterance], frames: Path,
                        ranked: Mapping[str, list[str]], config: EvalContextualConfig,
                        progress: Callable[[int], None] | None = None) -> Iterator[ConditionResult]:
    """Decode and score every model under every condition (``config.runs``), one result at a time;
    ``progress`` gets the clips decoded after each batch."""
    metas = {name: read_speechllm_meta(directory) for name, directory in models.items()}  # all readable before decoding
    scorer = Scorer(config.normalization)
    references = [Reference.from_utterance(u) for u in utterances]
    gold = [list(u.hotwords or ()) for u in utterances]
    lists = {c: [condition_words(c, u.hotwords or (), ranked.get(u.id, [])) for u in utterances]
             for c in dict.fromkeys((*config.conditions, *config.joint_conditions))}
    states = None
    for name, directory in models.items():
        if states is None:
            states = encoder_states(frames, metas[name]["whisper"], (u.id for u in utterances))
        model = load_speechllm(directory, config.lm).to(config.device).eval()
        prompts = with_format_of(PromptConfig(), metas[name].get("prompts"))
        for condition, decoding, options in config.runs:
            started = time.perf_counter()
            texts = transcribe(model, [states[u.id] for u in utterances], lists[condition], options, prompts, progress)
            seconds = time.perf_counter() - started
            corpus = scorer.score_corpus(zip(references, texts)).as_metrics()
            scores = {k: corpus[k] for k in (*METRICS, "keywords")}
            scores["list_recall"] = recall_at(gold, lists[condition]) if condition != "NA" else None
            scores["seconds_per_utterance"] = seconds / max(1, len(utterances))
            hypotheses = [{"id": u.id, "model": name, "condition": condition, "decoding": decoding, "list": list(words),
                           "reference": u.text, "hypothesis": t}
                          for u, words, t in zip(utterances, lists[condition], texts)]
            yield ConditionResult(name, condition, decoding, scores, hypotheses)
