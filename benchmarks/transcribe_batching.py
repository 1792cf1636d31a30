"""Batched vs clip-by-clip greedy transcription with Whisper base (medians over repeats).

    .venv/bin/python benchmarks/transcribe_batching.py --manifest data/default/en_entities/test.jsonl \
        --model models/whisper-base.pt --clips 16 --repeats 3 --out results/benchmarks/transcribe_batching.json
"""

from __future__ import annotations

import argparse
import json
import platform
from pathlib import Path

import torch
from timing import timed

from workbench.asr import TranscribeOptions, load_whisper, transcribe_batch
from workbench.data import load_audio, read_manifest, write_json_atomic


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--manifest", type=Path, default=Path("data/default/en_entities/test.jsonl"))
    parser.add_argument("--model", type=Path, default=Path("models/whisper-base.pt"))
    parser.add_argument("--clips", type=int, default=16)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("results/benchmarks/transcribe_batching.json"))
    args = parser.parse_args()

    utts = read_manifest(args.manifest)[: args.clips]
    clips = [load_audio(u.audio_path(args.manifest.parent)) for u in utts]
    language = utts[0].language
    model = load_whisper(args.model)
    options = TranscribeOptions(language=language, fallback_temperatures=())
    single_s, single = timed(lambda: [transcribe_batch(model, [c], options)[0].text for c in clips], args.repeats)
    batched_s, batched = timed(lambda: [
        r.text for i in range(0, len(clips), args.batch_size)
        for r in transcribe_batch(model, clips[i : i + args.batch_size], options)
    ], args.repeats)
    result = {
        "benchmark": "transcribe_batching", "model": str(args.model), "manifest": str(args.manifest),
        "clips": len(clips), "batch_size": args.batch_size, "repeats": args.repeats,
        "threads": torch.get_num_threads(), "machine": platform.machine(),
        "single_clips_per_s": len(clips) / single_s, "batched_clips_per_s": len(clips) / batched_s,
        "speedup": single_s / batched_s, "identical_1best": single == batched,
    }
    write_json_atomic(args.out, result)
    print(json.dumps({k: result[k]
                      for k in ("single_clips_per_s", "batched_clips_per_s", "speedup", "identical_1best")}))


if __name__ == "__main__":
    main()
