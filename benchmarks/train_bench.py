"""Decoder-only LoRA training steps per second, with and without the encoder cache, same batches.

Without the cache every step runs the 30-s encoder over its clips; with it (the encode stage's
cache, here built in memory during a first pass) a step is the decoder's forward and backward
only. Both runs start from the same seed, so their losses are equal (a test asserts it).

    .venv/bin/python benchmarks/train_bench.py --manifest data/default/cmn_eng/train.jsonl \\
        --pool results/nearmiss/cmn_eng/pool.jsonl --steps 6
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from workbench.asr import load_whisper
from workbench.asr.lora import LoRAConfig, apply_lora
from workbench.asr.transcribe import log_mel_batch
from workbench.asr.whisper_model import encode
from workbench.data import load_audio, read_manifest, write_json_atomic
from workbench.features import FeatureStore
from workbench.nearmiss.gate import GateConfig
from workbench.training.data import build_items, epoch_batches
from workbench.training.experiment import load_experiment
from workbench.training.objective import Objective


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--manifest", type=Path, default=Path("data/default/cmn_eng/train.jsonl"))
    parser.add_argument("--pool", type=Path, default=Path("results/nearmiss/cmn_eng/pool.jsonl"))
    parser.add_argument("--experiment", type=Path, default=Path("experiments/cs_nmg/wce_cl_trilevel.yaml"))
    parser.add_argument("--model", type=Path, default=Path("models/whisper-base.pt"))
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--out", type=Path, default=Path("results/benchmarks/train.json"))
    args = parser.parse_args()

    experiment = load_experiment(args.experiment)
    utterances = read_manifest(args.manifest)[: args.steps * args.batch_size]
    by_id = {u.id: u for u in utterances}
    items = build_items(utterances, args.pool, None, experiment, GateConfig())
    batches = epoch_batches(items, args.batch_size, 0, 0)[: args.steps]

    def mel(ids):
        return log_mel_batch(model, [load_audio(by_id[i].audio_path(args.manifest.parent)) for i in ids])

    def run(features_of) -> tuple[float, list[float]]:
        torch.manual_seed(0)
        trained = apply_lora(load_whisper(args.model), LoRAConfig(dropout=0.0))
        optimizer = torch.optim.AdamW([p for p in trained.parameters() if p.requires_grad], lr=1e-3)
        objective, losses = Objective(trained, experiment), []
        start = time.perf_counter()
        for batch in batches:
            loss = objective(features_of(trained, [item.id for item in batch]), batch).total(experiment.losses)
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()
            losses.append(float(loss.detach()))
        return time.perf_counter() - start, losses

    model = load_whisper(args.model)
    cache = FeatureStore()
    # the encode stage's work
    cache.get_or_compute([i.id for i in items], lambda positions: mel([items[p].id for p in positions]), model)
    with_cache_s, with_losses = run(lambda m, ids: cache.get_or_compute(ids, lambda p: mel([ids[i] for i in p]), m))
    without_s, without_losses = run(lambda m, ids: encode(m, mel(ids)))
    result = {
        "benchmark": "train", "experiment": experiment.name, "steps": len(batches), "batch_size": args.batch_size,
        "threads": torch.get_num_threads(), "steps_per_s_with_cache": len(batches) / with_cache_s,
        "steps_per_s_without_cache": len(batches) / without_s, "speedup": without_s / with_cache_s,
        "max_loss_difference": max(abs(a - b) for a, b in zip(with_losses, without_losses)),
        "note": "the cache's one-off encoding (the encode stage) is not in the timed loop; without a cache "
                "every epoch pays it again",
    }
    write_json_atomic(args.out, result)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
