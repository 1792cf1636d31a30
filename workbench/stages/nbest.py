"""Stage ``nbest``: batched beam-search N-best lists for a manifest (DESIGN.md §4 N-best jsonl).

Resumable: finished utterances are appended to the stage's resume state as they are decoded; a
rerun with the same settings and inputs skips them, one with other settings starts afresh. The
complete list is written onto ``--out`` in manifest order at the end.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from workbench.asr import load_whisper
from workbench.asr.nbest import nbest_lists
from workbench.asr.options import NBestConfig
from workbench.data import read_manifest
from workbench.runner import Stage, StageContext


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--manifest", type=Path, required=True, help="utterance manifest (jsonl)")
    parser.add_argument("--out", type=Path, required=True, help="N-best jsonl to write")


def run(context: StageContext) -> None:
    args, config = context.args, context.config
    utterances = read_manifest(args.manifest)
    records = context.records(args.out, [args.manifest, config.model])
    todo = [u for u in utterances if u.id not in records.done]
    if todo:
        model = load_whisper(config.model, config.device)
        with context.progress(len(todo), f"n-best {args.manifest.parent.name}") as bar:
            for batch in nbest_lists(model, todo, args.manifest.parent, config):
                for record in batch:
                    records.append(record)
                bar.update(len(batch))
    records.finish(args.out, [u.id for u in utterances])
    context.log.info("wrote %d N-best lists to %s", len(utterances), args.out)


STAGE = Stage("nbest", "write beam-search N-best lists (text, tokens, sum/avg log-prob) for a manifest; resumable",
              add_arguments, run, config=NBestConfig, description=__doc__)
