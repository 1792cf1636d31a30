"""Stage ``retrieval_frames``: Whisper encoder states of manifests at the clip's own length.

The retrievers train on frozen (or mostly frozen) Whisper encoder features. This stage runs the
encoder once per clip without the 30-s padding (positional embedding cut to the clip; about 8x
cheaper for 3-4 s clips) and stores the states below the ``trainable_layers`` top blocks in one
float16 safetensors file per manifest, bound to the checkpoint by a fingerprint. Resumable at
manifest granularity: a manifest whose file exists is skipped.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from tqdm import tqdm

from workbench.asr import load_whisper
from workbench.config.stages import RetrievalFramesConfig
from workbench.data import load_audio, read_manifest
from workbench.retrieval.frames import FrameStore, encoder_states, store_fingerprint
from workbench.stages.common import add_params_arguments, configure_logging, set_threads, stage_config

NAME = "retrieval_frames"
HELP = "store Whisper encoder states of manifests at each clip's own length (retriever features)"
CONFIG = (RetrievalFramesConfig, "retrieval_frames")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("manifests", nargs="+", type=Path, help="utterance manifests (jsonl)")
    parser.add_argument("--out", type=Path, required=True, help="frame store directory (one .safetensors per manifest)")
    add_params_arguments(parser, "retrieval_frames")


def store_name(manifest: Path) -> str:
    """``data/default/en_entities/test.jsonl`` -> ``en_entities-test``: unique per manifest."""
    return f"{manifest.parent.name}-{manifest.name.split('.')[0]}"


def run(args: argparse.Namespace) -> None:
    log = configure_logging()
    config = stage_config(RetrievalFramesConfig, args, "retrieval_frames")
    set_threads(config.threads)
    model = load_whisper(config.model, config.device)
    layers = len(model.encoder.blocks) - config.trainable_layers
    if not 0 <= layers <= len(model.encoder.blocks):
        raise ValueError(f"retrieval_frames.trainable_layers must be in 0..{len(model.encoder.blocks)}")
    fingerprint = store_fingerprint(config.model, layers)
    store = FrameStore(args.out)
    if store.meta is not None and store.meta["fingerprint"] != fingerprint:
        raise ValueError(f"{args.out} holds states of another checkpoint or layer; delete it or use another --out")
    for manifest in args.manifests:
        name = store_name(manifest)
        if (args.out / f"{name}.safetensors").is_file():
            log.info("%s: already stored", manifest)
            continue
        utterances = read_manifest(manifest)
        started, states = time.perf_counter(), {}
        for utt in tqdm(utterances, desc=f"frames {name}", unit="utt"):
            states[utt.id] = encoder_states(model, load_audio(utt.audio_path(manifest.parent)), None if layers == len(model.encoder.blocks) else layers)
        store.write(name, states, fingerprint, layers)
        log.info("%s: %d utterances in %.1f s", manifest, len(states), time.perf_counter() - started)
