"""Stage ``corpus``: speak the default corpus' sentence lists with offline TTS into manifests."""

from __future__ import annotations

import argparse
import functools
from pathlib import Path

from tqdm import tqdm

from workbench.config.stages import CorpusConfig
from workbench.corpus.default_corpus import PairSpec, SplitSizes, build_pair, load_sentences
from workbench.data.atomic import atomic_directory, write_json_atomic
from workbench.data.manifest import write_manifest
from workbench.stages.common import add_params_arguments, configure_logging, stage_config
from workbench.tts import make_engine

NAME = "corpus"
HELP = "synthesize the default code-switching / rare-entity corpus (train/dev/test manifests + 16 kHz wav)"


def pair_specs(config: CorpusConfig) -> dict[str, PairSpec]:
    return {
        "cmn_eng": PairSpec("cmn_eng", "zh", "en", config.mandarin_engine, config.english_engine, True, True),
        "vie_eng": PairSpec("vie_eng", "vi", "en", config.vietnamese_engine, config.english_engine, True, True),
        "en_entities": PairSpec("en_entities", "en", "en", config.english_engine, config.english_engine, True, False),
    }

CONFIG = (CorpusConfig, "corpus")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--text-dir", type=Path, default=Path("data_manifests/default"), help="sentence lists ({pair}.txt)")
    parser.add_argument("--out", type=Path, default=Path("data/default"), help="output directory")
    add_params_arguments(parser, "corpus")


def run(args: argparse.Namespace) -> None:
    log = configure_logging()
    config = stage_config(CorpusConfig, args, "corpus")
    specs = pair_specs(config)
    unknown = [p for p in config.pairs if p not in specs]
    if unknown:
        raise SystemExit(f"unknown corpus pair(s) {unknown}; known: {sorted(specs)}")
    sizes = SplitSizes(config.sizes.test, config.sizes.dev, config.sizes.train)
    engine = functools.lru_cache(maxsize=None)(make_engine)
    summary = {}
    with atomic_directory(args.out) as out:
        for name in config.pairs:
            spec = specs[name]
            sentences = load_sentences(args.text_dir, spec)
            bar = tqdm(desc=f"tts {name}", unit="seg", leave=False)
            splits = build_pair(
                spec, sentences, sizes, config.seed, out / name / "wav", out / name, engine,
                progress=lambda message, _n: (log.info(message), bar.update(_n)),
            )
            bar.close()
            for split, utterances in splits.items():
                count = write_manifest(out / name / f"{split}.jsonl", utterances)
                summary.setdefault(name, {})[split] = {
                    "utterances": count, "hours": round(sum(u.duration for u in utterances) / 3600, 4),
                }
            log.info("%s: %s", name, summary[name])
        write_json_atomic(out / "summary.json", {"config": {"seed": config.seed}, "pairs": summary})
