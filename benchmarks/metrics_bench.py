"""Metric throughput over 10,000 pairs: jiwer WER, our WER alone, and our full metric set.

The full set is WER + CER + MER + PIER (with POI detection) + B-WER/U-WER + B-CER/U-CER + KER +
SACC + digit errors, normalization included, each utterance's counts kept (``Scorer.score_corpus``:
the compiled kernel's count rows). ``full_per_utterance`` builds every utterance's Python score
object (alignments, tags) instead, as ``workbench score --per-utterance`` does. All run in one
process on the same pairs, interleaved; medians over repeats.

    .venv/bin/python benchmarks/metrics_bench.py --pairs 10000 --repeats 3 --out results/benchmarks/metrics.json
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import statistics
from pathlib import Path

import jiwer
from timing import median_ratio, timed_rounds

from workbench.data import write_json_atomic
from workbench.metrics.alignment import align, corpus_rate
from workbench.metrics.scorer import Reference, Scorer

ENGLISH = "the doctor said my new prescription for xarelto and ozempic starts next week after the meeting".split()
CHINESE = list("我们明天下午开会讨论预算这个项目进度比预期慢了很多") + ["meeting", "budget", "deadline", "email"]


def make_pairs(n: int, seed: int = 0) -> list[tuple[Reference, str]]:
    rng = random.Random(seed)
    pairs = []
    for i in range(n):
        chinese = i % 2 == 1
        vocab = CHINESE if chinese else ENGLISH
        ref = [rng.choice(vocab) for _ in range(rng.randint(6, 20))]
        hyp = list(ref)
        for _ in range(rng.randint(0, 4)):
            j = rng.randrange(len(hyp))
            hyp[j] = rng.choice(vocab) if rng.random() < 0.7 else ""
        join = "" if chinese else " "
        hotwords = tuple(w for w in ref if w in ("xarelto", "ozempic", "meeting", "budget"))[:2]
        pairs.append((Reference(str(i), join.join(ref), "zh" if chinese else "en", hotwords),
                      " ".join(join.join(hyp).split())))
    return pairs




def _gc_paused(fn):
    gc.disable()
    try:
        return fn()
    finally:
        gc.enable()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=7, help="interleaved rounds")
    parser.add_argument("--out", type=Path, default=Path("results/benchmarks/metrics.json"))
    args = parser.parse_args()
    pairs = make_pairs(args.pairs)
    refs = [r.text for r, _ in pairs]
    hyps = [h for _, h in pairs]

    def full():
        scorer = Scorer()  # fresh scorer each round: the normalization caches start empty
        return scorer.score_corpus(pairs).as_metrics()

    warm_scorer = Scorer()
    warm_scorer.score_corpus(pairs)  # fills the normalization caches
    times, results = timed_rounds({
        "jiwer": lambda: jiwer.wer(refs, hyps),
        # how a caller scoring utterance by utterance uses jiwer: one call per pair
        "jiwer_per_call": lambda: [jiwer.wer(r, h) for r, h in zip(refs, hyps) if r],
        # jiwer with the cyclic GC paused, as our scorer runs: its time otherwise swings ~2x with
        # whether a collection of the process's heap lands inside the call
        "jiwer_gc_paused": lambda: _gc_paused(lambda: jiwer.wer(refs, hyps)),
        "ours_wer": lambda: corpus_rate([align(r.split(), h.split()) for r, h in zip(refs, hyps)]),
        "full": full,
        "full_per_utterance": lambda: len(Scorer().score_corpus(pairs, keep_utterances=True).per_utterance),
        # a summary, like `full`: a kept 10k-utterance result would sit in the heap every later
        # call's collector passes traverse (jiwer's included)
        "full_warm": lambda: warm_scorer.score_corpus(pairs).as_metrics(),
    }, args.repeats)
    per_s = {name: args.pairs / statistics.median(t) for name, t in times.items()}
    result = {
        "benchmark": "metrics", "pairs": args.pairs, "rounds": args.repeats,
        "jiwer_wer_pairs_per_s": per_s["jiwer"], "jiwer_wer_per_call_pairs_per_s": per_s["jiwer_per_call"],
        "ours_wer_pairs_per_s": per_s["ours_wer"],
        "full_set_pairs_per_s": per_s["full"], "full_set_warm_cache_pairs_per_s": per_s["full_warm"],
        "full_set_with_per_utterance_objects_pairs_per_s": per_s["full_per_utterance"],
        # speed ratios: median over rounds of (jiwer's time / ours) within the same round
        "full_set_vs_jiwer_wer": median_ratio(times["jiwer"], times["full"]),
        "full_set_vs_jiwer_wer_per_call": median_ratio(times["jiwer_per_call"], times["full"]),
        "full_set_warm_vs_jiwer_wer": median_ratio(times["jiwer"], times["full_warm"]),
        "full_set_with_per_utterance_objects_vs_jiwer_wer": median_ratio(times["jiwer"], times["full_per_utterance"]),
        "jiwer_wer_gc_paused_pairs_per_s": per_s["jiwer_gc_paused"],
        "full_set_vs_jiwer_wer_gc_paused": median_ratio(times["jiwer_gc_paused"], times["full"]),
        "wer_identical": results["jiwer"] == results["ours_wer"], "full_metrics": results["full"],
    }
    write_json_atomic(args.out, result)
    print(json.dumps({k: v for k, v in result.items() if k != "full_metrics"}, indent=1))


if __name__ == "__main__":
    main()
