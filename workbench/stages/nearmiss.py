"""Stage ``nearmiss``: the CS-NMG near-miss pool of a manifest (seed 003 §3, DESIGN.md §4).

Per utterance: POIs, candidates from the ``nbest`` stage's lists, an LLM and phonetic neighbours,
the tri-level gate and the fixed negative selection (``workbench.nearmiss.pipeline``). Writes the
pool (kept and rejected candidates with reasons), gate statistics for every gate configuration of
seed 003 Table 3 (JSON and Markdown), and logs them to MLflow. LLM answers are cached on disk
(``--cache``): a rerun makes no new calls.

Resumable: finished utterances are appended to the stage's resume state; a rerun with the same
settings and inputs skips them, one with other settings starts afresh.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from workbench.asr import load_whisper
from workbench.asr.encoder_outputs import EncoderOutputs
from workbench.data import read_manifest
from workbench.data.atomic import write_text_atomic
from workbench.nearmiss.options import NearMissConfig
from workbench.nearmiss.pipeline import (
    NearMissPools,
    build_sources,
    load_nbest,
    statistics_markdown,
    statistics_metrics,
)
from workbench.runner import Stage, StageContext


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--manifest", type=Path, required=True, help="utterance manifest (jsonl)")
    parser.add_argument("--nbest", type=Path, required=True, help="N-best jsonl of the manifest (the nbest stage)")
    parser.add_argument("--out", type=Path, required=True, help="near-miss pool jsonl to write")
    parser.add_argument("--stats", type=Path, required=True,
                        help="gate statistics: JSON here, Markdown beside it (.md)")
    parser.add_argument("--cache", type=Path, default=None,
                        help="LLM response cache directory (needed by the llm source)")
    parser.add_argument("--encoder-cache", type=Path, default=None,
                        help="encode stage output to read encoder outputs from (default: encode here)")
    parser.add_argument("--name", default=None, help="run name (default: the manifest's parent directory name)")


def run(context: StageContext) -> None:
    args, config = context.args, context.config
    name = args.name or args.manifest.parent.name
    pools = NearMissPools(config, build_sources(config, args.cache))  # configuration errors first, before any reading
    utterances = read_manifest(args.manifest)
    hypotheses = load_nbest(args.nbest, {u.id for u in utterances})
    with context.tracked(f"nearmiss-{name}", {"manifest": str(args.manifest)},
                         {"manifest": str(args.manifest), "name": name}) as logger:
        records = context.records(args.out, [args.manifest, args.nbest, args.encoder_cache, config.model])
        todo = [u for u in utterances if u.id not in records.done]
        model = load_whisper(config.model, config.device) if todo else None
        store = args.encoder_cache
        features = EncoderOutputs(model, todo, args.manifest.parent, store, keep=store is not None).of_ids
        started, gated = time.perf_counter(), 0
        with context.progress(len(todo), f"near-miss {name}") as bar:
            for batch in pools(model, todo, hypotheses, features):
                for pool in batch:
                    records.append(pool.to_json())
                    gated += len(pool.negatives)
                bar.update(len(batch))
        seconds = time.perf_counter() - started
        records.finish(args.out, [u.id for u in utterances])
        stats = pools.statistics([records.done[u.id] for u in utterances], seconds, gated)
        context.write_json(args.stats, {"name": name, **stats}, publish=False)
        markdown = args.stats.with_suffix(".md")
        write_text_atomic(markdown, statistics_markdown(name, stats))
        logger.log_metrics(statistics_metrics(stats))
        context.publish(args.stats, markdown)
        context.log.info("%s: %d candidates, NM/utt %s", name, stats["candidates_total"],
                         {g: round(r["nm_per_utt"], 2) for g, r in stats["gates"].items()})


STAGE = Stage("nearmiss", "near-miss negatives (CS-NMG): POIs, N-best/LLM/phonetic candidates, tri-level gate, "
              "selection; resumable", add_arguments, run, config=NearMissConfig, description=__doc__)
