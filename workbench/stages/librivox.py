"""Stage ``librivox``: Debian pocketsphinx-testdata's LibriVox clips as a real-speech test manifest."""

from __future__ import annotations

import argparse
from pathlib import Path

from workbench.corpus.librivox import DEFAULT_ROOT, librivox_utterances
from workbench.data.atomic import atomic_directory
from workbench.data.manifest import write_manifest
from workbench.stages.common import configure_logging

NAME = "librivox"
HELP = "convert the real LibriVox clips of pocketsphinx-testdata into a test manifest"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--source", type=Path, default=DEFAULT_ROOT, help=f"clip directory (default: {DEFAULT_ROOT})")
    parser.add_argument("--out", type=Path, default=Path("data/librivox"), help="output directory")


def run(args: argparse.Namespace) -> None:
    log = configure_logging()
    with atomic_directory(args.out) as out:
        count = write_manifest(out / "test.jsonl", librivox_utterances(args.source, out / "wav", out))
    log.info("wrote %d utterances to %s", count, args.out / "test.jsonl")
