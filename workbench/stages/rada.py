"""Stage ``rada``: Robustness-Aware Data Augmentation (seed 001 §2.2.1) of a hotword vocabulary.

A bigger hotword vocabulary lowers retrieval recall and puts more distractors into the bias
prompt, and words the base ASR already recognizes gain nothing from biasing. RADA tests every
word: TTS speaks it in ``renditions`` carrier sentences ("I heard about {word} today."), the base
Whisper decodes each clip greedily, and a word found (normalized, on word boundaries) in at
least ``min_recognized`` of the hypotheses is *reliably recognized* and dropped; the others are
kept as the hotword vocabulary. The clips double as (audio, hotword) training pairs for the
retriever.

Reads one or more hotword lists (``workbench.text.hotwords``: one phrase a line, blank and ``#``
lines skipped, exact repeats collapse). Writes into ``--out``: ``kept.txt``, ``dropped.txt``,
``decisions.jsonl`` (sentences, hypotheses and verdict per word), ``rada.json`` (sizes,
recognition rates, timings: DVC metrics) and ``clips/`` (one WAV per rendition and
``clips/manifest.jsonl``, a train-split utterance manifest). Resumable: each decided word and its
clips are kept in the resume state ``<out>.resume/<fingerprint>/`` (outside the outputs that
``dvc repro`` deletes); a rerun with the same settings skips them, one with other settings starts
afresh. The outputs are written, and the clips moved into ``clips/``, at the end.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from workbench.asr import load_whisper
from workbench.data import write_json_atomic, write_manifest, write_text_atomic
from workbench.retrieval.options import RadaConfig
from workbench.retrieval.rada import RadaTimings, install_clips, pending_batches, rada_outcome, rada_records
from workbench.runner import Stage, StageContext
from workbench.text.hotwords import read_hotword_lists
from workbench.tts import make_engine


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--vocabulary", nargs="+", type=Path, required=True,
                        help="hotword lists: one phrase a line, blank and '#' lines skipped, exact repeats collapse")
    parser.add_argument("--out", type=Path, required=True,
                        help="output directory: kept.txt, dropped.txt, decisions.jsonl, rada.json, clips/")


def run(context: StageContext) -> None:
    args, config, out = context.args, context.config, context.args.out
    vocabulary, lists = read_hotword_lists(args.vocabulary), [str(p) for p in args.vocabulary]
    if vocabulary.duplicates:
        context.log.warning("rada: %d duplicate hotword(s) across %s collapsed", vocabulary.duplicates, lists)
    words = vocabulary.phrases
    records = context.records(out, [*args.vocabulary, config.model], key="word")
    staging = records.state.directory / "clips"  # clips of words decided by unfinished runs
    options = config.options()
    batches = pending_batches(words, records.done, [staging, out / "clips"], options)
    todo = [word for batch in batches for word in batch]
    tags = {"vocabulary": ",".join(lists)}
    with context.tracked(f"rada-{out.name}", tags, {"vocabulary": lists, "out": str(out)}) as run:
        timings = RadaTimings()
        if todo:  # a finished rerun needs neither the TTS voice nor the model
            engine, model = make_engine(config.engine), load_whisper(config.model, config.device)
            with context.progress(len(todo), "rada", unit="word") as bar:
                for record in rada_records(batches, engine, model, options, staging, timings):
                    records.append(record)
                    bar.update(1)
        outcome = rada_outcome(words, records.done, config, vocabulary.duplicates, timings, len(todo))
        install_clips(outcome.utterances, staging, out / "clips")
        write_manifest(out / "clips" / "manifest.jsonl", list(outcome.utterances))
        write_text_atomic(out / "kept.txt", outcome.kept_text)
        write_text_atomic(out / "dropped.txt", outcome.dropped_text)
        write_json_atomic(out / "rada.json", outcome.summary)
        records.finish(out / "decisions.jsonl", words)  # last: the resume state goes with it
        run.log_metrics(outcome.metrics)
        context.publish(out / "rada.json", out / "kept.txt", out / "dropped.txt")
    result = outcome.result
    context.log.info("rada: %d -> %d hotwords (%d dropped as reliably recognized) in %.1f s",
                     result.before, result.after, len(result.dropped), outcome.summary["timings"]["seconds"])


STAGE = Stage("rada", "RADA: drop hotwords the base ASR already recognizes from TTS (seed 001 §2.2.1); "
              "writes kept/dropped lists and training clips; resumable", add_arguments, run, config=RadaConfig,
              description=__doc__)
