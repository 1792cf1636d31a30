"""Bad inputs and a full disk: each is a clear error naming the file (and line / field), a
non-zero exit without a traceback, and no half-written output; the previous output survives."""

from __future__ import annotations

import json
import resource
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile

from workbench.data.resume import resume_root

from .conftest import in_process, resume_dir, run, temporaries

pytestmark = pytest.mark.reliability

PREVIOUS = b'{"id": "a previous run\'s complete output"}\n'


def _refused(code: int, stderr: str, *expected: str, exit_code: int = 2) -> None:
    assert code == exit_code, stderr[-3000:]
    assert "Traceback" not in stderr, stderr[-3000:]
    for text in expected:
        assert text in stderr, f"{text!r} not in:\n{stderr[-3000:]}"


def _recovers_without(damaged, stage, out, name, uninterrupted, fault) -> None:
    """The refused run wrote no final output; with ``damaged`` removed, as the error message says,
    the rerun gives what an uninterrupted run gives."""
    fault.lost([out / final for final in stage.finals if (out / final).exists()])
    shutil.rmtree(damaged) if damaged.is_dir() else damaged.unlink()
    code, err = in_process(stage.argv(out))
    assert code == 0, err
    assert stage.result(out) == uninterrupted(name)
    fault.recovered()


# --- manifests and audio (the nbest stage reads and validates its manifest first) ---

def _manifest_with(workspace, tmp_path: Path, line: int, **changes) -> Path:
    rows = [json.loads(row) for row in workspace.train.read_text().splitlines()]
    rows[line - 1].update(changes)
    manifest = tmp_path / "corpus" / "train.jsonl"
    manifest.parent.mkdir()
    manifest.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    shutil.copytree(workspace.train.parent / "audio", manifest.parent / "audio")
    return manifest


def _nbest(workspace, manifest: Path, out: Path) -> tuple[int, str]:
    return in_process(["nbest", "--manifest", str(manifest), "--out", str(out), "--set", f"model={workspace.whisper}"])


def _previous_output(tmp_path: Path) -> Path:
    out = tmp_path / "nbest" / "train.jsonl"
    out.parent.mkdir()
    out.write_bytes(PREVIOUS)
    return out


def _kept(out: Path) -> list[Path]:
    """Outputs lost: the previous output changed, or anything else appeared next to it."""
    lost = [] if out.read_bytes() == PREVIOUS else [out]
    return lost + [p for p in out.parent.iterdir() if p != out]


def test_corrupt_audio_is_named(workspace, fault, tmp_path):
    manifest = _manifest_with(workspace, tmp_path, 3, audio="audio/broken.wav")
    (manifest.parent / "audio" / "broken.wav").write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(range(256)) * 4)
    fault.inject("bad input", "corrupt audio: garbage bytes in a .wav (manifest line 3)")
    out = _previous_output(tmp_path)
    code, err = _nbest(workspace, manifest, out)
    _refused(code, err, f"{manifest}:3: field 'audio' cannot read {manifest.parent / 'audio' / 'broken.wav'}")
    fault.lost(_kept(out))
    fault.recovered()


def test_truncated_manifest_is_named(workspace, fault, tmp_path):
    manifest = _manifest_with(workspace, tmp_path, 1)
    text = manifest.read_bytes()
    manifest.write_bytes(text[: text.rindex(b'"text"')])  # cut in the middle of line 8
    fault.inject("bad input", "truncated jsonl: manifest cut mid-line (line 8)")
    out = _previous_output(tmp_path)
    code, err = _nbest(workspace, manifest, out)
    _refused(code, err, f"{manifest}:8: is not valid JSON")
    fault.lost(_kept(out))
    fault.recovered()


def test_wrong_rate_audio_is_refused(workspace, fault, tmp_path):
    """16 kHz is required (DESIGN.md §4); the converters resample, stages refuse other rates."""
    manifest = _manifest_with(workspace, tmp_path, 2, audio="audio/8k.wav")
    samples, rate = soundfile.read(str(workspace.train.parent / "audio" / "en_entities-0101.wav"))
    soundfile.write(str(manifest.parent / "audio" / "8k.wav"), samples[::2], rate // 2, subtype="PCM_16")
    fault.inject("bad input", "wrong-rate audio: an 8 kHz .wav (manifest line 2)")
    out = _previous_output(tmp_path)
    code, err = _nbest(workspace, manifest, out)
    _refused(code, err,
             f"{manifest}:2: field 'audio' {manifest.parent / 'audio' / '8k.wav'} is 8000 Hz, expected 16000 Hz")
    fault.lost(_kept(out))
    fault.recovered()


def test_truncated_pool_is_named(workspace, stages, fault, tmp_path):
    pool = tmp_path / "pool.jsonl"
    text = workspace.pool.read_bytes()
    pool.write_bytes(text[: len(text) - 40])  # the last record loses its end
    argv = stages["train_asr"].argv(tmp_path / "train")
    argv[argv.index("--pool") + 1] = str(pool)
    out = tmp_path / "train"
    out.mkdir()
    (out / "train.json").write_bytes(PREVIOUS)
    fault.inject("bad input", "truncated jsonl: near-miss pool cut mid-line (train_asr)")
    code, err = in_process(argv)
    _refused(code, err, f"{pool}:8: is not valid JSON")
    fault.lost([p for p in out.iterdir() if p.name != "train.json"]
               + ([] if (out / "train.json").read_bytes() == PREVIOUS else [out]))
    fault.recovered()


# --- the small stages' inputs: results files, baselines, corpora, configs (no models needed) ---

def _small_stage_inputs(tmp: Path) -> dict[str, tuple[list[str], str]]:
    """stage family -> (argv, what the one-line error must say); each writes nothing."""
    (tmp / "ref.jsonl").write_text('{"id": "a", "text": "hello"}\n')
    (tmp / "hyp.jsonl").write_text('{"id": "a"}\n')
    (tmp / "metrics.json").write_text('{"wer": 0.1')  # cut short
    (tmp / "baseline.json").write_text(json.dumps({"metrics": [{"file": "none.json", "key": "wer", "value": 0.1,
                                                                "better": "lower"}]}))
    (tmp / "kaldi").mkdir()
    out = str(tmp / "out")
    return {
        "score": (["score", "--ref", str(tmp / "ref.jsonl"), "--hyp", str(tmp / "hyp.jsonl"), "--out", out],
                  "hyp.jsonl:1: field 'hypothesis' (or 'text') is missing"),
        "regress": (["regress", "--baseline", str(tmp / "baseline.json"), "--root", str(tmp), "--out", out],
                    "none.json: metrics file missing"),
        "table": (["table", str(tmp / "metrics.json"), "--out", out], "metrics.json: cannot read metrics"),
        "convert": (["convert", "kaldi", "--source", str(tmp / "kaldi"), "--out", out, "--language", "en"],
                    "a Kaldi data directory needs wav.scp and text"),
        "corpus": (["corpus", "--out", out, "--set", "pairs=[cmn_eng, yue_eng]"], "unknown corpus pair(s) ['yue_eng']"),
        "s1s2_replay": (["s1s2_replay", "--manifest", str(tmp / "ref.jsonl"), "--out", out, "--set", "systems=[s3]"],
                        "unknown ['s3']"),
        "assets": (["assets", "--out", out, "--set", "models=[whisper-huge]"], "unknown asset(s) ['whisper-huge']"),
    }


@pytest.mark.parametrize("family", ["score", "regress", "table", "convert", "corpus", "s1s2_replay", "assets"])
def test_small_stage_bad_input_is_one_line(family, fault, tmp_path):
    argv, expected = _small_stage_inputs(tmp_path)[family]
    fault.inject("bad input", f"{family}: {expected}")
    if family in ("regress", "table", "convert"):  # no params section: the CLI as a user calls it
        import contextlib
        import io

        from workbench.cli import main

        stderr = io.StringIO()
        with contextlib.redirect_stderr(stderr):
            code = main(argv)
        err = stderr.getvalue()
    else:
        code, err = in_process(argv)
    _refused(code, err, f"workbench {argv[0]}: ", expected)
    assert len(err.strip().splitlines()) == 1, err
    fault.lost([tmp_path / "out"] if (tmp_path / "out").exists() else [])
    fault.recovered()


# --- checkpoints that cannot be resumed from ---

def test_truncated_asr_checkpoint_is_named(stages, interrupted, uninterrupted, fault, tmp_path):
    stage = stages["train_asr"]
    out = tmp_path / "out"
    checkpoint = interrupted("train_asr").copy_state(out) / "checkpoint.pt"
    checkpoint.write_bytes(checkpoint.read_bytes()[: checkpoint.stat().st_size // 2])
    fault.inject("unreadable checkpoint", "train_asr checkpoint.pt cut to half its size")
    code, err = in_process(stage.argv(out))
    _refused(code, err, f"{checkpoint}: cannot read this checkpoint", "delete it")
    _recovers_without(checkpoint, stage, out, "train_asr", uninterrupted, fault)  # the run starts over


def test_garbage_sft_checkpoint_is_named(stages, interrupted, uninterrupted, fault, tmp_path):
    stage = stages["sft_speechllm"]
    out = tmp_path / "out"
    checkpoint = interrupted("sft_speechllm").copy_state(out) / "checkpoint.pt"
    checkpoint.write_bytes(bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8)))
    fault.inject("unreadable checkpoint", "sft_speechllm checkpoint.pt of random bytes")
    code, err = in_process(stage.argv(out))
    _refused(code, err, f"{checkpoint}: cannot read this checkpoint")
    _recovers_without(checkpoint, stage, out, "sft_speechllm", uninterrupted, fault)


def test_damaged_grpo_checkpoint_is_named(stages, interrupted, uninterrupted, fault, tmp_path):
    stage = stages["grpo_speechllm"]
    out = tmp_path / "out"
    checkpoints = interrupted("grpo_speechllm").copy_state(out) / "checkpoints"
    newest = max(checkpoints.glob("checkpoint-*"), key=lambda p: int(p.name.rpartition("-")[2]))
    optimizer = newest / "optimizer.pt"
    data = bytearray(optimizer.read_bytes())
    data[len(data) // 2 : len(data) // 2 + 64] = bytes(64)  # a damaged block: the zip member fails its CRC
    optimizer.write_bytes(bytes(data))
    fault.inject("unreadable checkpoint", f"grpo_speechllm {newest.name}/optimizer.pt with a zeroed block")
    code, err = in_process(stage.argv(out))
    _refused(code, err, f"{optimizer}: damaged checkpoint file", f"delete {newest}")
    _recovers_without(newest, stage, out, "grpo_speechllm", uninterrupted, fault)  # resumes from the one before


# --- a full disk ---

def test_full_disk_while_checkpointing_is_named(stages, uninterrupted, fault, tmp_path):
    """The process may not grow any file past 32 KiB (RLIMIT_FSIZE: writes fail with EFBIG, the
    unprivileged stand-in for a full file system); the first checkpoint (~80 KB) does not fit."""
    stage = stages["train_asr"]
    out = tmp_path / "out"
    limit = 32 * 1024

    def small_files() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    fault.inject("full disk", f"train_asr with files limited to {limit // 1024} KiB (RLIMIT_FSIZE, EFBIG)")
    code, log = run(stage.argv(out), tmp_path / "full.log", preexec_fn=small_files)
    checkpoint = resume_dir(out) / "checkpoint.pt"
    _refused(code, log, f"workbench train_asr: cannot write {checkpoint}: File too large", "ulimit -f", exit_code=1)
    fault.lost([p for p in (checkpoint, out / "adapter", out / "train.json", *temporaries(out),
                            *temporaries(resume_root(out)))
                if p.exists()])
    code, err = in_process(stage.argv(out))  # room again: the same command completes
    assert code == 0, err
    assert stage.result(out) == uninterrupted("train_asr")
    assert not resume_root(out).exists()
    fault.recovered()
