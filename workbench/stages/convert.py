"""``workbench convert``: a public corpus in its native layout -> a validated utterance manifest.

    workbench convert kaldi --source data/train --out manifests/train.jsonl --language en --split train
    workbench convert cs_fleurs --source cs-fleurs/read/test --out manifests/read_test.jsonl --split test
    workbench convert aishell_ne --source SeACo-Paraformer/data/test --audio data_aishell/wav/test --out m.jsonl
    workbench convert audiofolder --source my_hf_folder --out m.jsonl --language vi
    workbench convert vimedcss --source ViMedCSS --subset hard --out manifests/vimedcss/hard.jsonl

Audio that is not 16 kHz mono (and audio embedded in parquet) is converted into
``<out dir>/audio/``. When the utterances carry hotwords (AISHELL-1-NE, ViMedCSS), their union is
written as a hotword list, one phrase a line (``--hotwords``, default ``<out stem>_hotwords.txt``
next to the manifest). See ``workbench.corpus.converters`` for the layouts.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from workbench.corpus.converters import CONVERTERS, VIMEDCSS_SPLITS, convert, hotword_list
from workbench.data import write_manifest, write_text_atomic
from workbench.runner import Stage, StageContext


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("format", choices=tuple(CONVERTERS), help="the corpus layout")
    parser.add_argument("--source", type=Path, required=True,
                        help="Kaldi data dir, a CS-FLEURS subset dir, SeACo-Paraformer's data/<split>, "
                        "an audio folder, or the ViMedCSS HF repository snapshot (holding data/<split>-*.parquet)")
    parser.add_argument("--audio", type=Path, default=None, help="aishell_ne: AISHELL-1's wav/<split> directory")
    parser.add_argument("--subset", choices=tuple(VIMEDCSS_SPLITS), default=None,
                        help="vimedcss (required): the split to convert; dev is HF's 'validation', hard is the test "
                        "set of harder code-switched terms (written as split 'test', custom.subset 'hard')")
    parser.add_argument("--out", type=Path, required=True, help="manifest to write (jsonl)")
    parser.add_argument("--hotwords", type=Path, default=None,
                        help="hotword list to write when the utterances carry hotwords "
                        "(default: <out stem>_hotwords.txt)")
    parser.add_argument("--language", default=None, help="matrix language (kaldi, audiofolder: required)")
    parser.add_argument("--split", default=None,
                        help="split name recorded in the manifest "
                        "(train/dev/test; default test, vimedcss: from --subset)")


def run(context: StageContext) -> None:
    args = context.args
    args.out.parent.mkdir(parents=True, exist_ok=True)
    records = convert(args.format, args.source, args.out.parent, args.language, args.split, args.audio, args.subset)
    written = []
    count = write_manifest(args.out, (written.append(utt) or utt for utt in records))
    print(f"{args.out}: {count} utterances")
    words = hotword_list(written)
    if words:
        hotwords = args.hotwords or args.out.with_name(args.out.name.split(".")[0] + "_hotwords.txt")
        write_text_atomic(hotwords, "".join(f"{word}\n" for word in words))
        print(f"{hotwords}: {len(words)} hotwords")


STAGE = Stage("convert", "convert a public corpus (Kaldi dir, CS-FLEURS subset, AISHELL-1-NE, HF audio folder, "
              "ViMedCSS split) into a validated manifest and hotword list", add_arguments, run, description=__doc__)
