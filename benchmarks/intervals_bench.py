"""Confidence intervals over 10,000 utterances with 1,000 bootstrap resamples: every corpus rate's
interval for one system (``corpus_intervals``), and the paired comparison of two systems on the
same utterances (``compare_corpora``: both systems' intervals, Δ's interval and p), with the
p-value by the shifted bootstrap and by approximate randomization. The pairs are metrics_bench's
generated ones; system B fixes every fifth hypothesis of A. Scoring is outside the timing (the
count rows come from ``Scorer.score_corpus``); reading the rows out of the count table is inside.

    .venv/bin/python benchmarks/intervals_bench.py --utterances 10000 --resamples 1000 \\
        --out results/benchmarks/intervals.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from metrics_bench import make_pairs
from timing import timed

from workbench.data import write_json_atomic
from workbench.metrics.intervals import compare_corpora, corpus_intervals, count_matrix
from workbench.metrics.options import IntervalConfig
from workbench.metrics.scorer import Scorer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--utterances", type=int, default=10_000)
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3, help="median over this many calls")
    parser.add_argument("--out", type=Path, default=Path("results/benchmarks/intervals.json"))
    args = parser.parse_args()

    pairs_a = make_pairs(args.utterances)
    pairs_b = [(ref, ref.text if i % 5 == 0 else hyp) for i, (ref, hyp) in enumerate(pairs_a)]
    scorer = Scorer()
    a, b = scorer.score_corpus(pairs_a), scorer.score_corpus(pairs_b)
    config = IntervalConfig(resamples=args.resamples)
    permutation = IntervalConfig(resamples=args.resamples, test="permutation")

    rows_s, _ = timed(lambda: count_matrix(a), args.repeats)
    intervals_s, intervals = timed(lambda: corpus_intervals(a, config), args.repeats)
    paired_s, comparison = timed(lambda: compare_corpora(a, b, config), args.repeats)
    permutation_s, _ = timed(lambda: compare_corpora(a, b, permutation), args.repeats)
    wer = comparison.differences["wer"]
    result = {
        "benchmark": "intervals", "utterances": args.utterances, "resamples": args.resamples,
        "metrics": len(intervals), "repeats": args.repeats,
        "count_rows_s": rows_s, "intervals_s": intervals_s,
        "paired_bootstrap_s": paired_s, "paired_permutation_s": permutation_s,
        "wer_a": [wer.a.value, wer.a.lo, wer.a.hi], "wer_delta": [wer.delta, wer.lo, wer.hi], "wer_p": wer.p,
        "note": "median wall time per call; one system's intervals of every corpus rate, and two systems "
                "compared (both systems' intervals, delta interval, p)",
    }
    write_json_atomic(args.out, result)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
