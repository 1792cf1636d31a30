"""Stage ``nearmiss``: the CS-NMG near-miss pool of a manifest (seed 003 §3, DESIGN.md §4).

For each utterance: POIs of the reference (embedded-language spans and their ±k boundary
neighbourhoods), candidate replacements from the N-best lists of the ``nbest`` stage, an LLM and
phonetic neighbours, one near-miss per distinct text, the tri-level gate (acoustic margin from
the frozen seed model's teacher-forced scores, phoneme and text distances of the POI segment),
and the fixed negative selection. Writes the pool (kept and rejected candidates with reasons),
gate statistics for every gate configuration of seed 003 Table 3 (JSON and Markdown), and logs
them to MLflow. LLM answers are cached on disk (``--cache``): a rerun makes no new calls.

Resumable: finished utterances are appended to ``<out>.partial``; a rerun skips them.
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import torch
from tqdm import tqdm

from workbench.asr import load_whisper
from workbench.asr.whisper_model import encode
from workbench.asr.nbest import teacher_forced_scores
from workbench.asr.transcribe import log_mel_batch
from workbench.config import ConfigError, config_to_dict
from workbench.config.stages import NearMissConfig
from workbench.data import ManifestError, load_audio, read_manifest, write_json_atomic
from workbench.data.atomic import write_text_atomic
from workbench.data.jsonl import append_jsonl, read_jsonl, resume_jsonl, write_jsonl
from workbench.nearmiss.candidates import CandidateBuilder
from workbench.nearmiss.llm import CachedLLM, make_backend
from workbench.text.phonetics import phoneme_distance, phonetic_neighbours
from workbench.nearmiss.pool import NBestSource, PoolBuilder, PoolInput, pool_statistics
from workbench.nearmiss.sources import LLMSource, PhoneticSource
from workbench.stages.common import add_params_arguments, configure_logging, set_threads, stage_config
from workbench.asr.encoder_cache import cached_features, open_cache
from workbench.text import build_normalizer
from workbench.text.poi import poi_spans
from workbench.tracking import make_logger, tracked_run

NAME = "nearmiss"
HELP = "near-miss negatives (CS-NMG): POIs, N-best/LLM/phonetic candidates, tri-level gate, selection; resumable"
CONFIG = (NearMissConfig, "nearmiss")
SOURCES = ("nbest", "llm", "phonetic")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--manifest", type=Path, required=True, help="utterance manifest (jsonl)")
    parser.add_argument("--nbest", type=Path, required=True, help="N-best jsonl of the manifest (the nbest stage)")
    parser.add_argument("--out", type=Path, required=True, help="near-miss pool jsonl to write")
    parser.add_argument("--stats", type=Path, required=True, help="gate statistics: JSON here, Markdown beside it (.md)")
    parser.add_argument("--cache", type=Path, default=Path("results/llm_cache"), help="LLM response cache directory")
    parser.add_argument("--encoder-cache", type=Path, default=None,
                        help="encode stage output to read encoder outputs from (default: encode here)")
    parser.add_argument("--name", default=None, help="run name (default: the manifest's parent directory name)")
    add_params_arguments(parser, "nearmiss")


def build_sources(config: NearMissConfig, cache: Path) -> list:
    unknown = [s for s in config.sources if s not in SOURCES]
    if unknown:
        raise ConfigError(f"nearmiss.sources: unknown source(s) {unknown}; known: {list(SOURCES)}")
    sources = []
    for name in config.sources:
        if name == "nbest":
            sources.append(NBestSource())
        elif name == "phonetic":
            sources.append(PhoneticSource(phonetic_neighbours, config.phonetic_neighbours))
        else:
            backend = make_backend(config.llm)
            if backend is None:
                raise ConfigError("nearmiss.sources lists 'llm' but nearmiss.llm.backend is 'none'")
            llm = CachedLLM(backend, cache)
            sources.append(LLMSource(llm, config.llm.generation, config.llm.max_replacements, config.llm_categories))
    return sources


def load_nbest(path: Path, ids: set[str]) -> dict[str, list[str]]:
    """Hypothesis texts per utterance id from the nbest stage's jsonl (DESIGN.md §4)."""
    if not path.is_file():
        raise FileNotFoundError(f"N-best file {path} not found; run the nbest stage first")
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
        raise ManifestError(path, None, None, f"no N-best list for {len(missing)} manifest utterance(s), e.g. {missing[:3]}")
    return hypotheses


def markdown_table(name: str, stats: dict) -> str:
    lines = [
        f"## Near-miss pool: {name}",
        "",
        f"{stats['utterances']} utterances ({stats['utterances_without_poi']} without a POI, excluded), "
        f"{stats['pois']} POIs; proposed per source {stats['proposed']}; distinct candidates "
        f"{stats['candidates_total']} {stats['candidates']} (duplicates {stats['duplicates']}, equal to the "
        f"reference {stats['same_as_reference']}, over the cap {stats['capped']}); edits {stats['edits']}.",
        "",
        "| gate | kept | kept by source | NM/utt (≤ M) | kept/utt |",
        "|---|---:|---|---:|---:|",
    ]
    for gate, row in stats["gates"].items():
        lines.append(
            f"| {gate} | {row['kept']} | {row['kept_by_source']} | {row['nm_per_utt']:.2f} | {row['kept_per_utt_uncapped']:.2f} |"
        )
    return "\n".join(lines) + "\n"


def run(args: argparse.Namespace) -> None:
    log = configure_logging()
    config = stage_config(NearMissConfig, args, "nearmiss")
    config.gate.validate()
    set_threads(config.threads)
    name = args.name or args.manifest.parent.name
    sources = build_sources(config, args.cache)  # configuration errors first, before any reading
    utterances = read_manifest(args.manifest)
    hypotheses = load_nbest(args.nbest, {u.id for u in utterances})
    builder = CandidateBuilder(build_normalizer(config.normalization))
    pools = PoolBuilder(builder, sources, config.gate, phoneme_distance, config.max_candidates, config.negatives)
    partial = args.out.with_name(args.out.name + ".partial")
    done = {record["id"] for record in resume_jsonl(partial)} if partial.exists() else set()
    todo = [u for u in utterances if u.id not in done]
    if done:
        log.info("resuming: %d of %d utterances already in %s", len(done), len(utterances), partial)
    logger = make_logger(
        config.tracking.backend, config.tracking.experiment, f"nearmiss-{name}", config.tracking.uri,
        tags={"stage": "nearmiss", "manifest": str(args.manifest)},
    )
    with tracked_run(logger, {"nearmiss": config_to_dict(config), "manifest": str(args.manifest), "name": name}):
        model = load_whisper(config.model, config.device) if todo else None
        encoder_cache = open_cache(args.encoder_cache) if args.encoder_cache is not None else None
        started, scored = time.perf_counter(), 0
        args.out.parent.mkdir(parents=True, exist_ok=True)
        with open(partial, "a", encoding="utf-8") as handle, tqdm(total=len(todo), desc=f"near-miss {name}", unit="utt") as bar:
            for first in range(0, len(todo), config.clips_per_batch):
                batch = todo[first : first + config.clips_per_batch]
                items = []
                for utt in batch:
                    reference, pois = poi_spans(
                        utt.text, utt.language, [(s.start, s.end) for s in utt.spans] or None,
                        config.poi_neighbourhood, config.embedded_language,
                    )
                    texts = hypotheses[utt.id]
                    segments = tuple(tuple(builder.nbest_segments(reference, pois, t)) for t in texts)
                    items.append(PoolInput(utt.id, reference, utt.language, config.embedded_language, tuple(pois), tuple(texts), segments))
                for source in sources:  # e.g. the local LLM answers the whole batch in one call
                    if hasattr(source, "prefetch"):
                        source.prefetch(items)
                needs_audio = [i for i, item in enumerate(items) if item.pois]
                features = {}
                if needs_audio and encoder_cache is not None:
                    features = dict(zip(needs_audio, cached_features(encoder_cache, model, [batch[i].id for i in needs_audio])))
                elif needs_audio:
                    clips = [load_audio(batch[i].audio_path(args.manifest.parent)) for i in needs_audio]
                    with torch.no_grad():
                        encoded = encode(model, log_mel_batch(model, clips))  # one encoder pass per clip
                    features = dict(zip(needs_audio, encoded))
                for i, item in enumerate(items):
                    def score(texts, features=features.get(i), language=item.language):
                        # encoder output in place of a mel: whisper skips the encoder for it
                        return [s.avg_logprob for s in teacher_forced_scores(model, features, texts, language)]

                    pool = pools.build(item, score)
                    scored += len(pool.negatives)
                    append_jsonl(handle, pool.to_json())
                bar.update(len(batch))
        elapsed = time.perf_counter() - started
        records = {r["id"]: r for r in read_jsonl(partial)}
        missing = [u.id for u in utterances if u.id not in records]
        if missing:
            raise RuntimeError(f"{len(missing)} utterances missing from {partial}: {missing[:5]}")
        ordered = [records[u.id] for u in utterances]
        stats = pool_statistics(ordered, config.gate, config.negatives)
        stats["gate"] = config_to_dict(config.gate)
        stats["seconds"] = round(elapsed, 3)
        stats["candidates_gated_per_second"] = round(scored / elapsed, 3) if elapsed and scored else None
        for source in sources:
            if isinstance(source, LLMSource):
                stats["llm"] = {
                    "requests": source.requests, "cached": source.cached, "failures": dict(source.failures),
                    "failed_requests": source.failure_log[:50],
                }
        write_jsonl(args.out, ordered)
        partial.unlink()
        write_json_atomic(args.stats, {"name": name, **stats})
        markdown = args.stats.with_suffix(".md")
        write_text_atomic(markdown, markdown_table(name, stats))
        logger.log_metrics(_flat_metrics(stats))
        for artifact in (args.stats, markdown):
            logger.log_artifact(artifact)
        log.info("%s: %d candidates, NM/utt %s", name, stats["candidates_total"],
                 {g: round(r["nm_per_utt"], 2) for g, r in stats["gates"].items()})


def _flat_metrics(stats: dict) -> dict[str, float]:
    metrics = {
        "utterances": stats["utterances"], "utterances_without_poi": stats["utterances_without_poi"],
        "pois": stats["pois"], "candidates_total": stats["candidates_total"], "selected_per_utt": stats["selected_per_utt"],
    }
    metrics.update({f"candidates_{k}": v for k, v in stats["candidates"].items()})
    for gate, row in stats["gates"].items():
        key = gate.replace("+", "_")
        metrics[f"nm_per_utt_{key}"] = row["nm_per_utt"]
        metrics[f"kept_{key}"] = row["kept"]
    return {k: float(v) for k, v in metrics.items() if isinstance(v, (int, float)) and not (isinstance(v, float) and math.isnan(v))}

