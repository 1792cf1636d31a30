"""``workbench convert``: a public corpus in its native layout -> a validated utterance manifest.

    workbench convert kaldi --source data/train --out manifests/train.jsonl --language en --split train
    workbench convert cs_fleurs --source cs-fleurs/read/test --out manifests/read_test.jsonl --split test

Audio that is not 16 kHz mono is converted into ``<out dir>/audio/``. See
``workbench.corpus.converters`` for the layouts.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from workbench.corpus.converters import cs_fleurs, kaldi
from workbench.data import write_manifest

NAME = "convert"
HELP = "convert a public corpus (Kaldi data dir, CS-FLEURS subset) into a validated manifest"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("format", choices=("kaldi", "cs_fleurs"), help="the corpus layout")
    parser.add_argument("--source", type=Path, required=True, help="Kaldi data dir, or one CS-FLEURS subset dir")
    parser.add_argument("--out", type=Path, required=True, help="manifest to write (jsonl)")
    parser.add_argument("--language", default=None, help="matrix language (Kaldi: required)")
    parser.add_argument("--split", default="test", help="split name recorded in the manifest")


def run(args: argparse.Namespace) -> None:
    out_dir = args.out.parent
    out_dir.mkdir(parents=True, exist_ok=True)
    if args.format == "kaldi":
        if not args.language:
            raise ValueError("kaldi: pass --language (Kaldi data dirs do not record it)")
        records = kaldi(args.source, out_dir, args.language, args.split)
    else:
        records = cs_fleurs(args.source, out_dir, args.split)
    count = write_manifest(args.out, records)
    print(f"{args.out}: {count} utterances")
