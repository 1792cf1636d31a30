"""Batched N-best beam search vs openai-whisper clip by clip (beam 5), and teacher forcing vs
separate forward passes. Same clips, one process; the two decoders run in interleaved rounds and the speed-up is the
median of per-round ratios.

    .venv/bin/python benchmarks/decode_bench.py --manifest data/default/en_entities/test.jsonl --clips 32
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

import torch
import whisper
from timing import median_ratio, timed, timed_rounds

from workbench.asr import load_whisper
from workbench.asr.nbest import NBestOptions, decode_nbest, teacher_forced_scores
from workbench.asr.transcribe import log_mel_batch
from workbench.data import load_audio, read_manifest, write_json_atomic


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--manifest", type=Path, default=Path("data/default/en_entities/test.jsonl"))
    parser.add_argument("--model", type=Path, default=Path("models/whisper-base.pt"))
    parser.add_argument("--clips", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=16)  # clips per batched decode
    parser.add_argument("--beam-size", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path("results/benchmarks/decode.json"))
    args = parser.parse_args()

    utts = read_manifest(args.manifest)[: args.clips]
    model = load_whisper(args.model)
    mel = log_mel_batch(model, [load_audio(u.audio_path(args.manifest.parent)) for u in utts])
    language = utts[0].language
    options = NBestOptions(beam_size=args.beam_size, n_best=args.beam_size, language=language)
    reference_options = options.decoding_options()

    def batched():
        return [
            r.hyps[0].text for i in range(0, len(mel), args.batch_size)
            for r in decode_nbest(model, mel[i : i + args.batch_size], options)
        ]

    times, outputs = timed_rounds({
        "whisper": lambda: [whisper.decode(model, m, reference_options).text for m in mel],
        "batched": batched,
    }, args.repeats)
    single_s, batched_s = statistics.median(times["whisper"]), statistics.median(times["batched"])
    single, batched_texts = outputs["whisper"], outputs["batched"]

    # The bound of any decoder that keeps openai-whisper's 30-s encoder pass (identical 1-best needs
    # it): clip-by-clip time over the time of the batched encoder pass alone.
    def encoder_only():
        with torch.no_grad():
            for i in range(0, len(mel), args.batch_size):
                model.embed_audio(mel[i : i + args.batch_size])

    encoder_s, _ = timed(encoder_only, max(1, args.repeats))

    # teacher forcing: K=8 candidates in one decoder pass vs 8 separate passes (encoder included in both)
    k = 8
    (nbest,) = decode_nbest(model, mel[:1], NBestOptions(beam_size=k, n_best=k, language=language))
    candidates = [h.tokens for h in nbest.hyps]
    one_pass_s, _ = timed(lambda: teacher_forced_scores(model, mel[0], candidates, language), 3)
    separate_s, _ = timed(lambda: [teacher_forced_scores(model, mel[0], [c], language) for c in candidates], 3)

    result = {
        "benchmark": "decode", "clips": len(utts), "beam_size": args.beam_size, "batch_size": args.batch_size,
        "threads": torch.get_num_threads(), "whisper_clip_by_clip_utt_per_s": len(utts) / single_s,
        "batched_nbest_utt_per_s": len(utts) / batched_s,
        "speedup": median_ratio(times["whisper"], times["batched"]), "rounds": args.repeats,
        "identical_1best": single == batched_texts, "encoder_only_s": encoder_s,
        "batched_share_in_encoder": encoder_s / batched_s, "speedup_bound_with_30s_encoder": single_s / encoder_s,
        "teacher_forcing_candidates": len(candidates),
        "teacher_forcing_one_pass_s": one_pass_s, "teacher_forcing_separate_s": separate_s,
        "teacher_forcing_speedup": separate_s / one_pass_s,
    }
    write_json_atomic(args.out, result)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
