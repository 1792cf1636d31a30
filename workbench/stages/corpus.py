"""Stage ``corpus``: speak the default corpus' sentence lists with offline TTS into manifests.

Each sub-corpus (``pairs``) is ``<out>/<pair>/{train,dev,test}.jsonl`` with 16 kHz wav files under
``<out>/<pair>/wav``; ``summary.json`` counts utterances and hours. The output directory appears
whole or not at all: a killed run leaves a marked temporary directory that the next run removes.
"""

from __future__ import annotations

import argparse
import functools
from pathlib import Path

from workbench.corpus.default_corpus import build_pair, load_sentences
from workbench.corpus.options import CorpusConfig
from workbench.data.atomic import atomic_directory, write_json_atomic
from workbench.data.manifest import write_manifest
from workbench.runner import Stage, StageContext
from workbench.tts import make_engine


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--text-dir", type=Path, default=Path("data_manifests/default"),
                        help="sentence lists ({pair}.txt)")
    parser.add_argument("--out", type=Path, required=True, help="output directory (replaced as a whole)")


def run(context: StageContext) -> None:
    args, config = context.args, context.config
    specs = config.pair_specs()
    engine = functools.lru_cache(maxsize=None)(make_engine)  # one voice process per engine spec
    summary = {}
    with atomic_directory(args.out) as out:
        for name in config.pairs:
            spec = specs[name]
            with context.progress(None, f"tts {name}", "seg") as bar:
                splits = build_pair(spec, load_sentences(args.text_dir, spec), config.pair_sizes(name), config.seed,
                                    out / name / "wav", out / name, engine,
                                    progress=lambda message, n: (context.log.info(message), bar.update(n)))
            for split, utterances in splits.items():
                count = write_manifest(out / name / f"{split}.jsonl", utterances)
                summary.setdefault(name, {})[split] = {
                    "utterances": count, "hours": round(sum(u.duration for u in utterances) / 3600, 4),
                }
            context.log.info("%s: %s", name, summary[name])
        write_json_atomic(out / "summary.json", {"config": {"seed": config.seed}, "pairs": summary})


STAGE = Stage("corpus",
              "synthesize the default code-switching / rare-entity corpus (train/dev/test manifests + 16 kHz wav)",
              add_arguments, run, config=CorpusConfig, description=__doc__)
