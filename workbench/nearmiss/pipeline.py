"""The CS-NMG near-miss pool of a manifest (seed 003 §3): what the ``nearmiss`` stage runs.

For each utterance: POIs of the reference (embedded-language spans and their ±k boundary
neighbourhoods), candidate replacements from its N-best list (the ``nbest`` stage), an LLM and
phonetic neighbours, one near-miss per distinct text, the tri-level gate (acoustic margin from the
frozen seed model's teacher-forced scores, phoneme and text distances of the POI segment) and the
fixed negative selection (``workbench.nearmiss.pool``). Then the statistics of the whole pool under
every gate configuration of seed 003 Table 3, as JSON, metrics and a Markdown table.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import torch
import whisper

from workbench.asr.nbest import teacher_forced_scores
from workbench.data import ManifestError, Utterance
from workbench.data.jsonl import read_jsonl
from workbench.errors import InputError, MissingInputError
from workbench.nearmiss.candidates import CandidateBuilder
from workbench.nearmiss.llm import CachedLLM, make_backend
from workbench.nearmiss.options import NearMissConfig
from workbench.nearmiss.pool import CandidateSource, NBestSource, PoolBuilder, PoolInput, UtterancePool, pool_statistics
from workbench.nearmiss.sources import LLMSource, PhoneticSource
from workbench.reporting.table import Column, Table
from workbench.text import build_normalizer
from workbench.text.phonetics import phoneme_distance, phonetic_neighbours
from workbench.text.poi import poi_spans

Features = Callable[[list[str]], torch.Tensor]  # utterance ids -> their encoder outputs, in order


def build_sources(config: NearMissConfig, llm_cache: Path | None) -> list[CandidateSource]:
    """The configured candidate sources, in priority order; the LLM's answers are cached in ``llm_cache``."""
    sources: list[CandidateSource] = []
    for name in config.sources:
        if name == "nbest":
            sources.append(NBestSource())
        elif name == "phonetic":
            sources.append(PhoneticSource(phonetic_neighbours, config.phonetic_neighbours))
        else:
            if llm_cache is None:
                raise InputError("nearmiss: the llm source needs a directory for its answers (--cache)")
            llm = CachedLLM(make_backend(config.llm), llm_cache)
            sources.append(LLMSource(llm, config.llm.generation, config.llm.max_replacements, config.llm_categories))
    return sources


def load_nbest(path: Path, ids: set[str]) -> dict[str, list[str]]:
    """Hypothesis texts per utterance id from the nbest stage's jsonl (DESIGN.md §4); every id of
    ``ids`` must have a list."""
    if not path.is_file():
        raise MissingInputError(path, "N-best file (run the nbest stage first)")
    hypotheses = {}
    for line, record in enumerate(read_jsonl(path), start=1):
        for field in ("id", "hyps"):
            if field not in record:
                raise ManifestError(path, line, field, "missing (an N-best record needs 'id' and 'hyps')")
        if not all(isinstance(h, dict) and isinstance(h.get("text"), str) for h in record["hyps"]):
            raise ManifestError(path, line, "hyps", "every hypothesis needs a 'text' string")
        hypotheses[record["id"]] = [h["text"] for h in record["hyps"]]
    missing = sorted(ids - set(hypotheses))
    if missing:
        raise ManifestError(path, None, None,
                            f"no N-best list for {len(missing)} manifest utterance(s), e.g. {missing[:3]}")
    return hypotheses


def pool_input(utt: Utterance, hypotheses: Sequence[str], builder: CandidateBuilder, poi_neighbourhood: int,
               embedded_language: str) -> PoolInput:
    """An utterance's POIs and the surface text each N-best hypothesis has at every POI."""
    reference, pois = poi_spans(utt.text, utt.language, [(s.start, s.end) for s in utt.spans] or None,
                                poi_neighbourhood, embedded_language)
    segments = tuple(tuple(builder.nbest_segments(reference, pois, text)) for text in hypotheses)
    return PoolInput(utt.id, reference, utt.language, embedded_language, tuple(pois), tuple(hypotheses), segments)


class NearMissPools:
    """The pools of utterances, ``clips_per_batch`` at a time: one encoder pass per batch (or its
    features from a store), one batched LLM call per batch (local backend), then per utterance the
    candidates, their teacher-forced scores, the gate and the selection."""

    def __init__(self, config: NearMissConfig, sources: Sequence[CandidateSource]):
        self.config, self.sources = config, list(sources)
        self.builder = CandidateBuilder(build_normalizer(config.normalization))
        self.pools = PoolBuilder(self.builder, self.sources, config.gate, phoneme_distance, config.max_candidates,
                                 config.negatives)

    def __call__(self, model: whisper.Whisper, utterances: Sequence[Utterance], hypotheses: dict[str, list[str]],
                 features: Features) -> Iterator[list[UtterancePool]]:
        """The pools of ``utterances``, one list per batch, in their order."""
        config = self.config
        for first in range(0, len(utterances), config.clips_per_batch):
            batch = utterances[first : first + config.clips_per_batch]
            items = [pool_input(u, hypotheses[u.id], self.builder, config.poi_neighbourhood, config.embedded_language)
                     for u in batch]
            for source in self.sources:  # e.g. the local LLM answers the whole batch in one call
                if hasattr(source, "prefetch"):
                    source.prefetch(items)
            needs_audio = [i for i, item in enumerate(items) if item.pois]
            encoded = dict(zip(needs_audio, features([batch[i].id for i in needs_audio]))) if needs_audio else {}
            pools = []
            for i, item in enumerate(items):
                def score(texts, features=encoded.get(i), language=item.language):
                    # encoder output in place of a mel: whisper skips the encoder for it
                    return [s.avg_logprob for s in teacher_forced_scores(model, features, texts, language)]

                pools.append(self.pools.build(item, score))
            yield pools

    def statistics(self, records: Sequence[dict], seconds: float, gated: int) -> dict:
        """Statistics of a whole pool (``UtterancePool.to_json`` records): per source, per gate of
        seed 003 Table 3, the gate used, this run's throughput and its LLM requests."""
        stats = pool_statistics(records, self.config.gate, self.config.negatives)
        stats["gate"] = dataclasses.asdict(self.config.gate)
        stats["seconds"] = round(seconds, 3)
        stats["candidates_gated_per_second"] = round(gated / seconds, 3) if seconds and gated else None
        for source in self.sources:
            if isinstance(source, LLMSource):
                stats["llm"] = {
                    "requests": source.requests, "cached": source.cached, "failures": dict(source.failures),
                    "failed_requests": source.failure_log[:50],
                }
        return stats


GATE_TABLE = (Column("gate", "text"), Column("kept", "count"), Column("kept by source", "text"),
              Column("NM/utt (≤ M)", "number"), Column("kept/utt", "number"))


def statistics_markdown(name: str, stats: dict) -> str:
    """The pool's statistics as a Markdown section: a summary line and the per-gate table."""
    rows = [(gate, row["kept"], row["kept_by_source"], row["nm_per_utt"], row["kept_per_utt_uncapped"])
            for gate, row in stats["gates"].items()]
    summary = (
        f"{stats['utterances']} utterances ({stats['utterances_without_poi']} without a POI, excluded), "
        f"{stats['pois']} POIs; proposed per source {stats['proposed']}; distinct candidates "
        f"{stats['candidates_total']} {stats['candidates']} (duplicates {stats['duplicates']}, equal to the "
        f"reference {stats['same_as_reference']}, over the cap {stats['capped']}); edits {stats['edits']}."
    )
    table = Table(f"nearmiss_{name}", f"Near-miss pool: {name}", GATE_TABLE, rows)
    return f"## {table.title}\n\n{summary}\n\n{table.grid()}"


def statistics_metrics(stats: dict) -> dict[str, float]:
    """The pool's statistics as flat tracking metrics (NaN left out)."""
    metrics = {
        "utterances": stats["utterances"], "utterances_without_poi": stats["utterances_without_poi"],
        "pois": stats["pois"], "candidates_total": stats["candidates_total"],
        "selected_per_utt": stats["selected_per_utt"],
    }
    metrics.update({f"candidates_{k}": v for k, v in stats["candidates"].items()})
    for gate, row in stats["gates"].items():
        key = gate.replace("+", "_")
        metrics[f"nm_per_utt_{key}"] = row["nm_per_utt"]
        metrics[f"kept_{key}"] = row["kept"]
    return {k: float(v) for k, v in metrics.items()
            if isinstance(v, (int, float)) and not (isinstance(v, float) and math.isnan(v))}
