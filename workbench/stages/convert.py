"""``workbench convert``: a public corpus in its native layout -> a validated utterance manifest.

    workbench convert kaldi --source data/train --out manifests/train.jsonl --language en --split train
    workbench convert cs_fleurs --source cs-fleurs/read/test --out manifests/read_test.jsonl --split test
    workbench convert aishell_ne --source SeACo-Paraformer/data/test --audio data_aishell/wav/test --out m.jsonl
    workbench convert audiofolder --source my_hf_folder --out m.jsonl --language vi

Audio that is not 16 kHz mono is converted into ``<out dir>/audio/``. See
``workbench.corpus.converters`` for the layouts.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from workbench.corpus.converters import aishell_ne, audiofolder, cs_fleurs, kaldi
from workbench.data import write_manifest

NAME = "convert"
HELP = "convert a public corpus (Kaldi dir, CS-FLEURS subset, AISHELL-1-NE, HF audio folder) into a validated manifest"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("format", choices=("kaldi", "cs_fleurs", "aishell_ne", "audiofolder"), help="the corpus layout")
    parser.add_argument("--source", type=Path, required=True,
                        help="Kaldi data dir, a CS-FLEURS subset dir, SeACo-Paraformer's data/<split>, or an audio folder")
    parser.add_argument("--audio", type=Path, default=None, help="aishell_ne: AISHELL-1's wav/<split> directory")
    parser.add_argument("--out", type=Path, required=True, help="manifest to write (jsonl)")
    parser.add_argument("--language", default=None, help="matrix language (kaldi, audiofolder: required)")
    parser.add_argument("--split", default="test", help="split name recorded in the manifest")


def run(args: argparse.Namespace) -> None:
    out_dir = args.out.parent
    out_dir.mkdir(parents=True, exist_ok=True)
    if args.format in ("kaldi", "audiofolder") and not args.language:
        raise FileNotFoundError(f"{args.format}: pass --language (the layout does not record it)")
    if args.format == "kaldi":
        records = kaldi(args.source, out_dir, args.language, args.split)
    elif args.format == "audiofolder":
        records = audiofolder(args.source, out_dir, args.language, args.split)
    elif args.format == "aishell_ne":
        if args.audio is None:
            raise FileNotFoundError("aishell_ne: pass --audio (AISHELL-1's wav/<split> directory)")
        records = aishell_ne(args.source, args.audio, out_dir, args.split)
    else:
        records = cs_fleurs(args.source, out_dir, args.split)
    count = write_manifest(args.out, records)
    print(f"{args.out}: {count} utterances")
