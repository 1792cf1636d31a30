"""Stage ``rada``: Robustness-Aware Data Augmentation (seed 001 §2.2.1) of a hotword vocabulary.

A bigger hotword vocabulary lowers retrieval recall and puts more distractors into the bias
prompt, and words the base ASR already recognizes gain nothing from biasing. RADA tests every
word: TTS speaks it in ``renditions`` carrier sentences ("I heard about {word} today."), the base
Whisper decodes each clip greedily, and a word found (normalized, on word boundaries) in at
least ``min_recognized`` of the hypotheses is *reliably recognized* and dropped; the others are
kept as the hotword vocabulary. The clips double as (audio, hotword) training pairs for the
retriever.

Reads one or more hotword lists (one phrase a line; blank and ``#`` lines skipped; duplicates
collapse). Writes into ``--out``: ``kept.txt``, ``dropped.txt``, ``decisions.jsonl`` (sentences,
hypotheses and verdict per word), ``rada.json`` (sizes, recognition rates, timings: DVC metrics)
and ``clips/`` (one WAV per rendition and ``clips/manifest.jsonl``, a train-split utterance
manifest). Resumable: decisions are appended to ``decisions.jsonl.partial`` batch by batch and a
rerun skips the words already decided; the final files are written at the end.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import time
from pathlib import Path

from tqdm import tqdm

from workbench.asr import load_whisper
from workbench.asr.transcribe import TranscribeOptions
from workbench.config import ConfigError, config_to_dict
from workbench.config.stages import RadaConfig
from workbench.data import ManifestError, Utterance, write_json_atomic, write_manifest, write_text_atomic, write_wav
from workbench.data.jsonl import append_jsonl, read_jsonl, resume_jsonl, write_jsonl
from workbench.retrieval.rada import RadaDecision, RadaOptions, RadaResult, iter_rada
from workbench.text.hotwords import read_hotword_lists
from workbench.stages.common import add_params_arguments, configure_logging, set_threads, stage_config
from workbench.tracking import make_logger, tracked_run
from workbench.tts import make_engine

NAME = "rada"
HELP = "RADA: drop hotwords the base ASR already recognizes from TTS (seed 001 §2.2.1); writes kept/dropped lists and training clips; resumable"
CONFIG = (RadaConfig, "rada")
PARTIAL = "decisions.jsonl.partial"
# the settings a partial file's decisions depend on; a rerun with others starts afresh
_SETUP_FIELDS = ("model", "engine", "carriers", "renditions", "min_recognized", "language", "seed")
_SETUP = "decisions.jsonl.partial.setup.json"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--vocabulary", nargs="+", type=Path, required=True,
                        help="hotword lists: one phrase a line, blank and '#' lines skipped, duplicates collapse")
    parser.add_argument("--out", type=Path, required=True,
                        help="output directory: kept.txt, dropped.txt, decisions.jsonl, rada.json, clips/")
    add_params_arguments(parser, "rada")


def read_vocabulary(paths: list[Path]) -> tuple[list[str], int]:
    """Phrases of all lists in first-seen order and the duplicate count (``workbench.text.hotwords``' rule)."""
    hotwords = read_hotword_lists(paths)
    return list(hotwords.phrases), hotwords.duplicates


def rada_options(config: RadaConfig) -> RadaOptions:
    try:
        return RadaOptions(
            carriers=tuple(config.carriers), renditions=config.renditions, min_recognized=config.min_recognized,
            seed=config.seed, clips_per_batch=config.batch_size,
            transcribe=TranscribeOptions(language=config.language, fallback_temperatures=(), fp16=config.device != "cpu"),
        )
    except ValueError as error:
        raise ConfigError(f"rada: {error}") from None


def clip_id(word: str, rendition: int) -> str:
    """A file-safe id, readable and unique: a slug of the word plus a hash of it."""
    slug = re.sub(r"\W+", "_", word).strip("_")[:40] or "word"
    digest = hashlib.sha1(word.encode()).hexdigest()[:8]
    return f"rada-{slug}-{digest}-{rendition}"


def _resume(out: Path, setup: dict, log) -> dict[str, dict]:
    """Decided words of an interrupted run with the same setup; {} (and a fresh start) otherwise.
    A word whose clips are gone is decided again: `dvc repro` deletes the stage's outputs (clips/
    among them) before it reruns the command, while the .partial file is not one of them."""
    partial, setup_file = out / PARTIAL, out / _SETUP
    if partial.exists() and setup_file.exists():
        if json.loads(setup_file.read_text(encoding="utf-8")) == setup:
            records = {record["word"]: record for record in resume_jsonl(partial)}
            return {word: record for word, record in records.items()
                    if all((out / "clips" / clip["audio"]).is_file() for clip in record["clips"])}
        log.warning("rada: %s was made with other settings; deciding every word again", partial)
    partial.unlink(missing_ok=True)
    write_json_atomic(setup_file, setup)
    return {}


def _manifest(words: list[str], records: dict[str, dict], config: RadaConfig) -> list[Utterance]:
    utterances = []
    for word in words:
        record = records[word]
        status = "dropped" if record["reliably_recognized"] else "kept"
        for clip, text, recognized, language in zip(record["clips"], record["texts"], record["recognized"], record["languages"]):
            utterances.append(Utterance(
                id=clip["id"], audio=clip["audio"], duration=clip["duration"], text=text,
                language=config.language or language, split="train", hotwords=(word,),
                speaker=f"tts:{config.engine}", custom={"rada": status, "recognized": recognized},
            ))
    return utterances


def run(args: argparse.Namespace) -> None:
    log = configure_logging()
    config = stage_config(RadaConfig, args, "rada")
    options = rada_options(config)  # configuration errors before any work
    set_threads(config.threads)
    words, duplicates = read_vocabulary(args.vocabulary)
    if duplicates:
        log.warning("rada: %d duplicate hotword(s) across %s collapsed", duplicates, [str(p) for p in args.vocabulary])
    out, clips_dir = args.out, args.out / "clips"
    clips_dir.mkdir(parents=True, exist_ok=True)
    # as JSON sees it (tuples become lists), to compare with the stored setup
    setup = json.loads(json.dumps({k: v for k, v in config_to_dict(config).items() if k in _SETUP_FIELDS}))
    records = _resume(out, setup, log)
    todo = [w for w in words if w not in records]
    resumed = len(words) - len(todo)
    if resumed:
        log.info("resuming: %d of %d words already decided in %s", resumed, len(words), out / PARTIAL)
    logger = make_logger(
        config.tracking.backend, config.tracking.experiment, f"rada-{out.name}", config.tracking.uri,
        tags={"stage": "rada", "vocabulary": ",".join(str(p) for p in args.vocabulary)},
    )
    run_config = {"rada": config_to_dict(config), "vocabulary": [str(p) for p in args.vocabulary], "out": str(out)}
    with tracked_run(logger, run_config):
        started, tts_seconds, asr_seconds, audio_seconds = time.perf_counter(), 0.0, 0.0, 0.0
        if todo:  # a finished rerun needs neither the TTS voice nor the model
            engine = make_engine(config.engine)
            model = load_whisper(config.model, config.device)
            with open(out / PARTIAL, "a", encoding="utf-8") as handle, tqdm(total=len(todo), desc="rada", unit="word") as bar:
                for batch in iter_rada(todo, engine, model, options):
                    tts_seconds += batch.tts_seconds
                    asr_seconds += batch.asr_seconds
                    for decision, audio in zip(batch.decisions, batch.clips):
                        clips = []
                        for rendition, samples in enumerate(audio, start=1):
                            uid = clip_id(decision.word, rendition)
                            duration = write_wav(clips_dir / f"{uid}.wav", samples)  # before the decision: a
                            audio_seconds += duration  # decided word always has its clips on disk
                            clips.append({"id": uid, "audio": f"{uid}.wav", "duration": round(duration, 4)})
                        record = {**decision.to_json(), "clips": clips}
                        append_jsonl(handle, record)
                        records[decision.word] = record
                    bar.update(len(batch.decisions))
        elapsed = time.perf_counter() - started
        missing = [w for w in words if w not in records]
        if missing:
            raise RuntimeError(f"{len(missing)} words missing from {out / PARTIAL}: {missing[:5]}")
        ordered = [records[w] for w in words]
        result = RadaResult.from_decisions(RadaDecision.from_json(r) for r in ordered)
        utterances = _manifest(words, records, config)
        write_manifest(clips_dir / "manifest.jsonl", utterances)
        referenced = {u.audio for u in utterances}
        for stale in clips_dir.glob("*.wav"):  # clips of words no longer in the vocabulary
            if stale.name not in referenced:
                stale.unlink()
        write_jsonl(out / "decisions.jsonl", ordered)
        write_text_atomic(out / "kept.txt", "".join(w + "\n" for w in result.kept))
        write_text_atomic(out / "dropped.txt", "".join(w + "\n" for w in result.dropped))
        metrics = result.as_metrics()
        decided = len(todo)
        timings = {
            "seconds": round(elapsed, 3), "tts_seconds": round(tts_seconds, 3), "asr_seconds": round(asr_seconds, 3),
            "words_decided": decided, "words_resumed": resumed, "audio_seconds": round(audio_seconds, 3),
            "seconds_per_word": round(elapsed / decided, 4) if decided else None,
        }
        summary = {
            "before": result.before, "after": result.after, "dropped": len(result.dropped),
            "dropped_share": round(metrics["dropped_share"], 6), "duplicates": duplicates,
            "clips": len(utterances), "clip_recognition_rate": round(metrics["clip_recognition_rate"], 6),
            "recognition_rate": {k: round(v, 6) for k, v in result.recognition_by_rendition().items()},
            "recognition_rate_by_carrier": {k: round(v, 6) for k, v in result.recognition_by_carrier().items()},
            "timings": timings, "model": config.model, "engine": config.engine,
            "renditions": config.renditions, "min_recognized": config.min_recognized,
        }
        write_json_atomic(out / "rada.json", summary)
        (out / PARTIAL).unlink(missing_ok=True)
        (out / _SETUP).unlink(missing_ok=True)
        logger.log_metrics({
            **metrics, "duplicates": float(duplicates),
            **{f"timing_{k}": float(v) for k, v in timings.items() if v is not None},
        })
        for artifact in ("rada.json", "kept.txt", "dropped.txt"):
            logger.log_artifact(out / artifact)
        log.info("rada: %d -> %d hotwords (%d dropped as reliably recognized) in %.1f s",
                 result.before, result.after, len(result.dropped), elapsed)
