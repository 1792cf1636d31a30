"""Stage ``librivox``: Debian pocketsphinx-testdata's LibriVox clips as a real-speech test manifest.

Writes ``<out>/test.jsonl`` and the clips under ``<out>/wav`` (the directory appears whole or not at all).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from workbench.corpus.librivox import DEFAULT_ROOT, librivox_utterances
from workbench.data.atomic import atomic_directory
from workbench.data.manifest import write_manifest
from workbench.runner import Stage, StageContext


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--source", type=Path, default=DEFAULT_ROOT, help=f"clip directory (default: {DEFAULT_ROOT})")
    parser.add_argument("--out", type=Path, required=True, help="output directory, e.g. data/librivox")


def run(context: StageContext) -> None:
    args = context.args
    with atomic_directory(args.out) as out:
        count = write_manifest(out / "test.jsonl", librivox_utterances(args.source, out / "wav", out))
    context.log.info("wrote %d utterances to %s", count, args.out / "test.jsonl")


STAGE = Stage("librivox", "convert the real LibriVox clips of pocketsphinx-testdata into a test manifest",
              add_arguments, run, description=__doc__)
