"""Stage ``eval_retrieval``: hotword retrieval quality of a trained retriever (or of the phonetic
baseline alone) on a test set, for vocabularies from the test's own hotwords up to 100k words.

For every vocabulary size it reports recall / precision / F1 at k (exact, seed 000; substring,
seed 001) for: ``phonetic`` (the ASR 1-best → phonemes → sliding-window edit-distance baseline),
the learned retriever alone, and ``fused`` (a weighted sum of both after a per-query calibration,
chosen on the dev queries by exact R@1, or fixed: ``fusion``). Gold hotwords are always in the
vocabulary (seed 001 adds the annotated words to the list); the project's hotword lists come
next (for a RADA experiment only the words RADA kept), then CMUdict / pypinyin distractors.
Utterances without annotated hotwords are not queries: they are counted and reported as excluded.
Every recall, precision and long-form R@k has a bootstrap interval over test utterances.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from workbench.data import write_text_atomic
from workbench.data.jsonl import write_jsonl
from workbench.retrieval.evaluation import (
    evaluate_retrieval,
    query_states,
    read_dev_queries,
    read_test_set,
    vocabulary_lists,
)
from workbench.retrieval.models import load_retriever
from workbench.retrieval.options import EvalRetrievalConfig
from workbench.runner import Stage, StageContext


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add("--manifest", type=Path, required=True, help="test manifest; utterances with `hotwords` are the queries")
    add("--hypotheses", type=Path, required=True, help="ASR 1-best of the test set (evaluate stage's hypotheses.jsonl)")
    add("--vocabulary", type=Path, nargs="+", required=True, help="hotword / distractor lists (one phrase a line)")
    add("--retriever", type=Path, default=None, help="train_retriever output (omit: phonetic baseline only)")
    add("--rada", type=Path, default=None, help="RADA stage output: kept.txt filters the lists for rada experiments")
    add("--frames", type=Path, default=None, help="own-length feature store (encode --layout own) of the test manifest")
    add("--dev-manifest", type=Path, default=None, help="dev manifest: its queries tune the fusion (fusion: dev)")
    add("--dev-hypotheses", type=Path, default=None, help="ASR 1-best of the dev set (evaluate's hypotheses.jsonl)")
    add("--text-cache", type=Path, default=None, help="directory caching frozen text-encoder features of vocabularies")
    add("--out", type=Path, required=True, help="output directory: metrics.json, ratios.json, rankings.jsonl, "
        "table.md (ratios_longform.json with long-form)")


def run(context: StageContext) -> None:
    args, config = context.args, context.config
    test = read_test_set(args.manifest, args.hypotheses)
    model, meta = load_retriever(args.retriever) if args.retriever else (None, {})
    lists = vocabulary_lists(args.vocabulary, meta, args.rada)
    states = query_states(args.frames, meta, test) if model is not None else None
    dev = read_dev_queries(args.dev_manifest, args.dev_hypotheses, args.frames, meta) if model is not None else None
    context.log.info("%d queries; lists: %d words%s", len(test.queries), len(lists.words),
                     " (RADA-kept)" if lists.rada else "")
    experiment, method = meta.get("experiment", "phonetic"), meta.get("method", "phonetic")
    tags = {"study": "retrieval", "variant": experiment, "method": method}
    with context.tracked(f"eval-{experiment}", tags, {"retriever": meta}) as run:
        evaluation = evaluate_retrieval(test, lists, config, model, meta, states, args.text_cache, context.progress,
                                         dev)
        run.log_metrics(evaluation.tracked)
        run.log_params(evaluation.params)
        args.out.mkdir(parents=True, exist_ok=True)
        context.write_json(args.out / "metrics.json", evaluation.metrics)
        # per item counts for paired comparisons: test utterances; long-form C→Q's items are windows
        context.write_json(args.out / "ratios.json", evaluation.ratios.to_json())
        if evaluation.window_ratios is not None:
            context.write_json(args.out / "ratios_longform.json", evaluation.window_ratios.to_json())
        else:  # a stale file from an earlier run with long-form would pair with the wrong run
            (args.out / "ratios_longform.json").unlink(missing_ok=True)
        write_jsonl(args.out / "rankings.jsonl", evaluation.rankings)
        write_text_atomic(args.out / "table.md", evaluation.table())
    print(evaluation.table())


STAGE = Stage("eval_retrieval", "hotword retrieval R@k / F1 (exact and substring) for vocabularies up to 100k: "
              "learned, phonetic baseline, fused", add_arguments, run, config=EvalRetrievalConfig, description=__doc__)
