"""Resume state beside a stage's output (workbench.data.resume): what the fingerprint covers,
one directory per configuration, older configurations' states pruned, removal on completion."""

from __future__ import annotations

import json
import os
from pathlib import Path

from workbench.data import resume
from workbench.data.resume import KEEP_OTHERS, fingerprint, open_resume_state, resume_root


def _inputs(tmp_path: Path) -> tuple[Path, Path]:
    manifest = tmp_path / "train.jsonl"
    manifest.write_text('{"id": "a"}\n')
    cache = tmp_path / "cache"
    (cache / "shards").mkdir(parents=True)
    (cache / "shards" / "0.safetensors").write_bytes(b"x" * 10)
    (cache / "meta.json").write_text("{}")
    return manifest, cache


def test_fingerprint_covers_config_and_input_identity_only(tmp_path):
    manifest, cache = _inputs(tmp_path)
    config = {"train_asr": {"loop": {"epochs": 3}}, "experiment": "name: wce\n"}
    base, record = fingerprint("train_asr", config, [manifest, None, cache, manifest])
    # None skipped, duplicates once
    assert len(base) == 16 and sorted(record["inputs"]) == sorted([str(manifest), str(cache)])
    assert record["inputs"][str(cache)]["files"] == 2 and record["inputs"][str(cache)]["bytes"] == 12
    assert fingerprint("train_asr", config, [manifest, cache])[0] == base  # nothing read changes by looking

    assert fingerprint("train_asr", {**config, "experiment": "name: wce\npoi_weight: 3\n"},
                       [manifest, cache])[0] != base
    assert fingerprint("train_asr", {**config, "train_asr": {"loop": {"epochs": 4}}}, [manifest, cache])[0] != base
    assert fingerprint("train_retriever", config, [manifest, cache])[0] != base

    stat = manifest.stat()
    os.utime(manifest, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1000))  # touched (re-checked-out, copied)
    touched = fingerprint("train_asr", config, [manifest, cache])[0]
    assert touched != base
    (cache / "shards" / "1.safetensors").write_bytes(b"y")  # a file deep in a directory input
    assert fingerprint("train_asr", config, [manifest, cache])[0] != touched
    absent = tmp_path / "absent"
    assert fingerprint("train_asr", config, [manifest, cache, absent])[1]["inputs"][str(absent)] == {"missing": True}


def test_one_directory_per_configuration_removed_on_completion(tmp_path):
    manifest, _ = _inputs(tmp_path)
    out = tmp_path / "results" / "train"
    state = open_resume_state(out, "train_asr", {"lr": 1}, [manifest])
    assert resume_root(out) == tmp_path / "results" / "train.resume" and state.directory.parent == resume_root(out)
    record = json.loads((state.directory / "fingerprint.json").read_text())
    assert record["fingerprint"] == state.fingerprint == state.directory.name and record["config"] == {"lr": 1}
    (state.directory / "checkpoint.pt").write_bytes(b"state")
    assert not out.exists()  # nothing goes into the output itself

    again = open_resume_state(out, "train_asr", {"lr": 1}, [manifest])  # the same configuration: the same state
    assert again == state and (state.directory / "checkpoint.pt").read_bytes() == b"state"
    other = open_resume_state(out, "train_asr", {"lr": 2}, [manifest])  # another: a fresh directory beside it
    assert other.directory != state.directory and not (other.directory / "checkpoint.pt").exists()
    assert (state.directory / "checkpoint.pt").exists()  # the first configuration's state is kept

    other.finish()
    assert not other.directory.exists() and resume_root(out).is_dir()  # the other state is still there
    state.finish()
    assert not resume_root(out).exists()
    state.finish()  # twice is harmless


def test_states_of_older_configurations_are_pruned(tmp_path):
    out = tmp_path / "train"
    states = []
    for lr in range(KEEP_OTHERS + 2):
        states.append(open_resume_state(out, "train_asr", {"lr": lr}, []))
        stamp = 1_000_000_000 + lr  # distinct "last used" times, oldest first
        for path in (states[-1].directory / "fingerprint.json", states[-1].directory):
            os.utime(path, (stamp, stamp))
    kept = sorted(p.name for p in resume_root(out).iterdir())
    # the newest one and the KEEP_OTHERS before it
    assert kept == sorted(s.fingerprint for s in states[-(KEEP_OTHERS + 1):])
    assert not states[0].directory.exists()


def test_other_processes_of_a_launch_only_read(tmp_path):
    state = open_resume_state(tmp_path / "train", "sft_speechllm", {"x": 1}, [], main_process=False)
    assert state.fingerprint == resume.fingerprint("sft_speechllm", {"x": 1}, [])[0]
    assert not resume_root(tmp_path / "train").exists()
