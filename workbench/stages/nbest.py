"""Stage ``nbest``: batched beam-search N-best lists for a manifest (DESIGN.md §4 N-best jsonl).

Resumable: finished utterances are appended to ``<out>.partial`` as they are decoded; a rerun
skips the ids already there, and the complete file is renamed onto ``<out>`` at the end.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from tqdm import tqdm

from workbench.asr import load_whisper
from workbench.asr.nbest import NBestOptions, decode_nbest
from workbench.asr.transcribe import log_mel_batch, token_budget
from workbench.config.stages import NBestConfig
from workbench.data import batches_by_language, load_audio, read_manifest
from workbench.data.jsonl import append_jsonl, read_jsonl, resume_jsonl, write_jsonl
from workbench.stages.common import add_params_arguments, configure_logging, set_threads, stage_config

NAME = "nbest"
HELP = "write beam-search N-best lists (text, tokens, sum/avg log-prob) for a manifest; resumable"
CONFIG = (NBestConfig, "nbest")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--manifest", type=Path, required=True, help="utterance manifest (jsonl)")
    parser.add_argument("--out", type=Path, required=True, help="N-best jsonl to write")
    add_params_arguments(parser, "nbest")


def run(args: argparse.Namespace) -> None:
    log = configure_logging()
    config = stage_config(NBestConfig, args, "nbest")
    set_threads(config.threads)
    utterances = read_manifest(args.manifest)
    partial = args.out.with_name(args.out.name + ".partial")
    done = {record["id"] for record in resume_jsonl(partial)} if partial.exists() else set()
    todo = [u for u in utterances if u.id not in done]
    if done:
        log.info("resuming: %d of %d utterances already in %s", len(done), len(utterances), partial)
    model = load_whisper(config.model, config.device) if todo else None
    by_language = config.language == "manifest"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with open(partial, "a", encoding="utf-8") as handle, tqdm(total=len(todo), desc=f"n-best {args.manifest.parent.name}", unit="utt") as bar:
        for language, batch in batches_by_language(todo, config.batch_size, by_language):
            clips = [load_audio(u.audio_path(args.manifest.parent)) for u in batch]
            max_tokens = token_budget(model, clips, config.max_tokens_per_second)
            options = NBestOptions(
                beam_size=config.beam_size, n_best=config.n_best, patience=config.patience,
                length_penalty=config.length_penalty, max_tokens=max_tokens,
                language=language if by_language else config.language, fp16=config.device != "cpu",
            )
            for utt, result in zip(batch, decode_nbest(model, log_mel_batch(model, clips), options)):
                append_jsonl(handle, {
                    "id": utt.id, "language": result.language, "no_speech_prob": result.no_speech_prob,
                    "hyps": [h.to_json() for h in result.hyps],
                })
            bar.update(len(batch))
    records = {r["id"]: r for r in read_jsonl(partial)}
    missing = [u.id for u in utterances if u.id not in records]
    if missing:
        raise RuntimeError(f"{len(missing)} utterances missing from {partial}: {missing[:5]}")
    write_jsonl(args.out, (records[u.id] for u in utterances))  # manifest order, atomically
    partial.unlink()
    log.info("wrote %d N-best lists to %s", len(utterances), args.out)
