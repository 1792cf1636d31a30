"""Stage ``encode``: Whisper encoder outputs of manifests, cached on disk for training and evaluation.

With LoRA on the decoder only, the encoder is frozen: every training epoch and every variant's
evaluation would recompute the same 30-s encoder pass (most of a CPU step). This stage runs it
once per utterance into a safetensors cache bound to the checkpoint's encoder weights; the
``train_asr`` and ``eval_asr`` stages read it. Resumable: cached utterances are skipped.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from tqdm import tqdm

from workbench.asr import load_whisper
from workbench.asr.encoder_cache import EncoderCache
from workbench.asr.transcribe import log_mel_batch
from workbench.config.stages import EncodeConfig
from workbench.data import load_audio, read_manifest
from workbench.stages.common import add_params_arguments, configure_logging, set_threads, stage_config

NAME = "encode"
HELP = "cache Whisper encoder outputs of manifests (frozen encoder: computed once, read by train_asr/eval_asr)"
CONFIG = (EncodeConfig, "encode")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("manifests", nargs="+", type=Path, help="utterance manifests (jsonl) to encode")
    parser.add_argument("--out", type=Path, required=True, help="encoder cache directory")
    add_params_arguments(parser, "encode")


def run(args: argparse.Namespace) -> None:
    log = configure_logging()
    config = stage_config(EncodeConfig, args, "encode")
    set_threads(config.threads)
    model = load_whisper(config.model, config.device)
    args.out.mkdir(parents=True, exist_ok=True)
    cache = EncoderCache(args.out)
    for manifest in args.manifests:
        utterances = [u for u in read_manifest(manifest) if u.id not in cache]
        with tqdm(total=len(utterances), desc=f"encode {manifest}", unit="utt") as bar:
            for first in range(0, len(utterances), config.batch_size):
                batch = utterances[first : first + config.batch_size]
                cache.get_or_compute(
                    [u.id for u in batch],
                    lambda positions, batch=batch: log_mel_batch(model, [load_audio(batch[i].audio_path(manifest.parent)) for i in positions]),
                    model,
                )
                bar.update(len(batch))
    log.info("%d utterances in %s", len(cache), args.out)
