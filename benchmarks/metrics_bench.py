"""Metric throughput over 10,000 pairs: jiwer WER, our WER alone, and our full metric set.

The full set is WER + CER + MER + PIER (with POI detection) + B-WER/U-WER + B-CER/U-CER + KER +
SACC + digit errors, normalization included. All three run in one process on the same pairs;
medians over repeats.

    .venv/bin/python benchmarks/metrics_bench.py --pairs 10000 --repeats 3 --out results/benchmarks/metrics.json
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

import jiwer

from timing import timed
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
        pairs.append((Reference(str(i), join.join(ref), "zh" if chinese else "en", hotwords), " ".join(join.join(hyp).split())))
    return pairs




def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("results/benchmarks/metrics.json"))
    args = parser.parse_args()
    pairs = make_pairs(args.pairs)
    refs = [r.text for r, _ in pairs]
    hyps = [h for _, h in pairs]

    jiwer_s, jiwer_wer = timed(lambda: jiwer.wer(refs, hyps), args.repeats)
    # how a caller scoring utterance by utterance uses jiwer: one call per pair
    jiwer_each_s, _ = timed(lambda: [jiwer.wer(r, h) for r, h in zip(refs, hyps) if r], args.repeats)
    ours_s, ours_wer = timed(lambda: corpus_rate([align(r.split(), h.split()) for r, h in zip(refs, hyps)]), args.repeats)

    def full():
        scorer = Scorer()  # fresh scorer each repeat: the normalization cache starts empty
        return scorer.score_corpus(pairs).as_metrics()

    full_s, full_metrics = timed(full, args.repeats)
    warm_scorer = Scorer()
    warm_scorer.score_corpus(pairs)  # fills the normalization caches
    warm_s, _ = timed(lambda: warm_scorer.score_corpus(pairs), args.repeats)
    result = {
        "benchmark": "metrics", "pairs": args.pairs, "repeats": args.repeats,
        "jiwer_wer_pairs_per_s": args.pairs / jiwer_s, "jiwer_wer_per_call_pairs_per_s": args.pairs / jiwer_each_s,
        "ours_wer_pairs_per_s": args.pairs / ours_s,
        "full_set_pairs_per_s": args.pairs / full_s, "full_set_vs_jiwer_wer": jiwer_s / full_s,
        "full_set_vs_jiwer_wer_per_call": jiwer_each_s / full_s,
        "full_set_warm_cache_pairs_per_s": args.pairs / warm_s, "full_set_warm_vs_jiwer_wer": jiwer_s / warm_s,
        "wer_identical": jiwer_wer == ours_wer, "full_metrics": full_metrics,
    }
    write_json_atomic(args.out, result)
    print(json.dumps({k: v for k, v in result.items() if k != "full_metrics"}, indent=1))


if __name__ == "__main__":
    main()
