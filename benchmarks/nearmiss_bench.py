"""Near-miss gating throughput: candidates gated per second on the default corpus, the acoustic
scores batched (one decoder pass for the reference and all candidates of an utterance) vs one
decoder pass per candidate. Both share the encoder pass; both run the same candidates (N-best
and phonetic sources; the LLM is left out so its generation time does not hide the gate's).

    .venv/bin/python benchmarks/nearmiss_bench.py --manifest data/default/cmn_eng/train.jsonl \\
        --nbest results/nbest/cmn_eng/train.jsonl --utterances 12
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

import torch
from timing import median_ratio, timed_rounds

from workbench.asr import load_whisper
from workbench.asr.nbest import teacher_forced_scores
from workbench.asr.transcribe import log_mel_batch
from workbench.asr.whisper_model import encode
from workbench.data import load_audio, read_manifest, write_json_atomic
from workbench.nearmiss.candidates import CandidateBuilder
from workbench.nearmiss.gate import GateConfig
from workbench.nearmiss.pipeline import load_nbest, pool_input
from workbench.nearmiss.pool import NBestSource, PoolBuilder
from workbench.nearmiss.sources import PhoneticSource
from workbench.text import build_normalizer
from workbench.text.phonetics import phoneme_distance, phonetic_neighbours


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--manifest", type=Path, default=Path("data/default/cmn_eng/train.jsonl"))
    parser.add_argument("--nbest", type=Path, default=Path("results/nbest/cmn_eng/train.jsonl"))
    parser.add_argument("--model", type=Path, default=Path("models/whisper-base.pt"))
    parser.add_argument("--utterances", type=int, default=12)
    parser.add_argument("--repeats", type=int, default=2, help="interleaved rounds")
    parser.add_argument("--out", type=Path, default=Path("results/benchmarks/nearmiss.json"))
    args = parser.parse_args()

    utterances = read_manifest(args.manifest)[: args.utterances]
    hypotheses = load_nbest(args.nbest, {u.id for u in utterances})
    model = load_whisper(args.model)
    builder = CandidateBuilder(build_normalizer())
    sources = [NBestSource(), PhoneticSource(phonetic_neighbours, 3)]
    pools = PoolBuilder(builder, sources, GateConfig(), phoneme_distance)
    items = [pool_input(utt, hypotheses[utt.id], builder, poi_neighbourhood=1, embedded_language="en")
             for utt in utterances]
    features = encode(model, log_mel_batch(model, [load_audio(u.audio_path(args.manifest.parent)) for u in utterances]))

    def gate_all(batched: bool) -> int:
        gated = 0
        for item, feats in zip(items, features):
            def score(texts, feats=feats, language=item.language):
                if batched:
                    return [s.avg_logprob for s in teacher_forced_scores(model, feats, texts, language)]
                return [teacher_forced_scores(model, feats, [t], language)[0].avg_logprob for t in texts]

            gated += len(pools.build(item, score).negatives)
        return gated

    with torch.no_grad():
        gate_all(True)  # warm the phonetic indexes and caches outside the timing
        rounds = {"batched": lambda: gate_all(True), "one_by_one": lambda: gate_all(False)}
        times, counts = timed_rounds(rounds, args.repeats)
    candidates = counts["batched"]
    result = {
        "benchmark": "nearmiss_gate", "utterances": len(items), "candidates": candidates,
        "batched_candidates_per_s": candidates / statistics.median(times["batched"]),
        "one_by_one_candidates_per_s": candidates / statistics.median(times["one_by_one"]),
        "batched_speedup": median_ratio(times["one_by_one"], times["batched"]), "rounds": args.repeats,
        "note": "encoder outputs computed once outside the timing (the stage encodes each clip once)",
    }
    write_json_atomic(args.out, result)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
