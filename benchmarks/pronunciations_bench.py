"""Pronunciation corpus generation throughput: ``workbench pronunciations`` run as the pipeline runs
it (params.yaml's section and profile, ``--set words=N``) into a fresh directory, so nothing is
resumed. Reports clips/s and audio seconds per wall second over the whole stage (term selection,
planning, synthesis, WAV writing, outputs) and over its synthesis phase (the stage's own
``stats.json`` timings, from the first synthesized batch on), and the share of that phase spent
in TTS, in the effects (speed change, noise) and in the rest (writing WAVs, records).

    .venv/bin/python benchmarks/pronunciations_bench.py --words 60
    .venv/bin/python benchmarks/pronunciations_bench.py --words 60 --profile zh_demo \\
        --sentences data/default/cmn_entities/train.jsonl --exclude data/default/cmn_entities/test.jsonl \\
        --exclude-list --out results/benchmarks/pronunciations_zh.json

One run per invocation (TTS of a few hundred clips takes minutes here); the 1-minute load
average is recorded because other jobs on this shared 2-core VM slow it down.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

from workbench.cli import main as workbench
from workbench.data import write_json_atomic


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--words", type=int, default=60, help="distinct terms (the profile's size is overridden)")
    parser.add_argument("--profile", default=None, help="params.yaml pronunciations profile (default: the section's)")
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="further pronunciations settings, as the stage's --set (e.g. 'voices=[piper]')")
    parser.add_argument("--sentences", nargs="*", type=Path, default=[Path("data/default/en_entities/train.jsonl")])
    parser.add_argument("--exclude", nargs="*", type=Path, default=[Path("data/default/en_entities/test.jsonl"),
                                                                    Path("data/default/en_entities/dev.jsonl")])
    parser.add_argument("--exclude-list", nargs="*", type=Path,
                        default=[Path("data_manifests/default/en_hotwords.txt"),
                                 Path("data_manifests/default/en_distractors.txt")])
    parser.add_argument("--work", type=Path, default=None, help="where the corpus is written (default: a temp dir)")
    parser.add_argument("--out", type=Path, default=Path("results/benchmarks/pronunciations.json"))
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(dir=args.work) as work:
        corpus = Path(work) / "corpus"
        argv = ["pronunciations", "--params", str(args.params), "--set", f"words={args.words}",
                *(["--set", f"profile={args.profile}"] if args.profile else []),
                *(part for pair in args.overrides for part in ("--set", pair)),
                "--sentences", *map(str, args.sentences), "--exclude", *map(str, args.exclude),
                "--exclude-list", *map(str, args.exclude_list), "--out", str(corpus)]
        started = time.perf_counter()
        if workbench(argv) != 0:
            raise SystemExit("workbench pronunciations failed")
        wall = time.perf_counter() - started
        stats = json.loads((corpus / "stats.json").read_text(encoding="utf-8"))
    timings = stats["timings"]
    if timings["terms_resumed"]:
        raise SystemExit(f"{timings['terms_resumed']} terms were resumed: not a cold run")
    synthesis = timings["seconds"]
    tts, effects = timings["tts_seconds"], timings["effects_seconds"]
    clips, audio = stats["clips"], stats["audio_seconds"]
    result = {
        "benchmark": "pronunciations", "profile": args.profile or "params.yaml's", "overrides": args.overrides,
        "terms": stats["terms"],
        "clips": clips, "audio_seconds": audio, "mean_clip_seconds": round(audio / clips, 3),
        "threads": {name: os.environ.get(name) for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")},
        "load_average_1min": os.getloadavg()[0],  # a shared 2-core VM: other jobs' load shapes these figures
        "wall_seconds": round(wall, 2),
        "clips_per_second": round(clips / wall, 3),
        "audio_seconds_per_wall_second": round(audio / wall, 3),
        "synthesis_seconds": synthesis,
        "synthesis_clips_per_second": round(clips / synthesis, 3),
        "synthesis_audio_seconds_per_second": round(audio / synthesis, 3),
        "tts_seconds": tts, "effects_seconds": effects,
        "tts_share": round(tts / synthesis, 3), "effects_share": round(effects / synthesis, 3),
        "other_share": round(1 - (tts + effects) / synthesis, 3),
        "setup_seconds": round(wall - synthesis, 2),
        "setup_note": "wall - synthesis: loading the exclusion lists and sentences, term selection (CMUdict pools), "
                      "planning and writing the outputs; each voice loads inside the TTS time of its first batch",
        "kinds": stats["kinds"], "voices": stats["voices"], "effects": stats["effects"],
        "categories": stats["categories"],
    }
    write_json_atomic(args.out, result)  # creates the directory
    print(json.dumps(result, indent=1))
    print(f"\n{result['terms']} terms, {clips} clips ({audio:.0f} s of audio) in {wall:.1f} s: "
          f"{result['clips_per_second']:.2f} clips/s, "
          f"{result['audio_seconds_per_wall_second']:.2f} audio s per wall s; "
          f"synthesis phase {synthesis:.1f} s ({result['synthesis_clips_per_second']:.2f} clips/s): "
          f"TTS {100 * result['tts_share']:.0f} %, effects {100 * result['effects_share']:.0f} %, "
          f"rest {100 * result['other_share']:.0f} %")


if __name__ == "__main__":
    main()
