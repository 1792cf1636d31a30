"""Stage ``s1s2_replay``: replay a manifest as a stream of short committed utterances (seed 004).

Consecutive utterances form conversations of ``conversation_size`` (one session each), replayed
through the systems no-bias / S1 / S1+S2-A / S1+S2-B (``workbench.rescoring.replay``). Room
keywords are the conversation's hotwords, or the list given with ``--keywords``.

Outputs in ``--out``: ``metrics.json`` (per system: WER/CER/MER, proper-noun hit rate, digit error
rate, trigger/win/loss rates, added latency p50/p95, ...; each rate with its bootstrap interval
``<rate>_ci_lo``/``_ci_hi``), ``ratios.json`` (the rates per commit, for paired comparisons of the
systems), ``table.md``, ``traces.jsonl`` (one line per system and commit).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from workbench.asr import load_whisper
from workbench.data import read_manifest, write_text_atomic
from workbench.data.jsonl import write_jsonl
from workbench.errors import InputError
from workbench.rescoring.options import S1S2ReplayConfig
from workbench.rescoring.replay import replay
from workbench.runner import Stage, StageContext
from workbench.text.hotwords import read_hotword_list


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--manifest", type=Path, required=True, help="utterance manifest (jsonl), replayed in order")
    parser.add_argument("--out", type=Path, required=True,
                        help="directory for metrics.json, ratios.json, table.md, traces.jsonl")
    parser.add_argument("--name", default=None, help="run name (default: the manifest's parent directory name)")
    parser.add_argument("--keywords", type=Path, default=None,
                        help="room keywords, one a line, for every conversation (default: per the 'keywords' param)")


def run(context: StageContext) -> None:
    args, config = context.args, context.config
    name = args.name or args.manifest.resolve().parent.name
    utterances = read_manifest(args.manifest)
    if not utterances:
        raise InputError(f"{args.manifest}: the manifest has no utterances")
    keywords = read_hotword_list(args.keywords) if args.keywords else None
    params = {"manifest": str(args.manifest), "name": name,
              "keywords_file": str(args.keywords) if args.keywords else None}
    with context.tracked(f"s1s2_replay-{name}", tags={"manifest": str(args.manifest)}, params=params) as run:
        model = load_whisper(config.model, config.device)
        with context.progress(len(utterances), f"s1s2 replay {name}") as bar:
            result = replay(model, utterances, args.manifest.parent, config, name, keywords, bar.update)
        args.out.mkdir(parents=True, exist_ok=True)
        write_jsonl(args.out / "traces.jsonl", result.traces)
        context.write_json(args.out / "metrics.json", result.summary())
        context.write_json(args.out / "ratios.json", result.tracked_ratios().to_json())  # per commit: paired Δ
        write_text_atomic(args.out / "table.md", result.table())
        run.log_metrics(result.tracked_metrics())
        context.publish(args.out / "table.md", args.out / "traces.jsonl")
    for system, m in result.summary()["systems"].items():
        context.log.info("%s %s: MER %.3f PN-hit %s trigger %s win %s loss %s", name, system,
                         m.get("mer", float("nan")),
                         m.get("proper_noun_hit_rate", "–"), m.get("trigger_rate", "–"), m.get("win_rate", "–"),
                         m.get("loss_rate", "–"))


STAGE = Stage("s1s2_replay",
              "replay a manifest as short committed utterances: no-bias / S1 / S1+S2-A / S1+S2-B (seed 004)",
              add_arguments, run, config=S1S2ReplayConfig, description=__doc__)
