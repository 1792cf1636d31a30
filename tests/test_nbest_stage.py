"""The nbest stage: N-best jsonl in manifest order, resumable under a settings fingerprint."""

import json
import shutil

import pytest
import torch

import workbench.stages.nbest as nbest_stage
from conftest import FIXTURES
from workbench.cli import main
from workbench.testing.dummies import tiny_whisper


@pytest.fixture
def workspace(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    shutil.copytree(FIXTURES, tmp_path / "fixtures")
    model = tiny_whisper()
    torch.save({"dims": model.dims.__dict__, "model_state_dict": model.state_dict()}, tmp_path / "tiny.pt")
    return tmp_path


def nbest_args(out, *settings):
    return ["nbest", "--manifest", "fixtures/tiny.jsonl", "--out", str(out), "--set", "model=tiny.pt",
            "--set", "batch_size=1",
            "--set", "n_best=2", "--set", "max_tokens_per_second=1", *[a for s in settings for a in ("--set", s)]]


def watch_decoding(monkeypatch, die_after_first_batch: bool = False) -> list[str]:
    """Record the ids the next run decodes; optionally make it die (like kill -9) once the first
    batch's records are stored."""
    decoded, real = [], nbest_stage.nbest_lists

    def watched(model, utterances, root, config):
        for batch in real(model, utterances, root, config):
            decoded.extend(r["id"] for r in batch)
            yield batch
            if die_after_first_batch:
                raise KeyboardInterrupt
    monkeypatch.setattr(nbest_stage, "nbest_lists", watched)
    return decoded


def test_nbest_stage_resumes_and_writes_in_manifest_order(workspace, monkeypatch):
    fresh = workspace / "fresh.jsonl"
    main(nbest_args(fresh, "beam_size=3"))
    records = [json.loads(line) for line in fresh.read_text().splitlines()]
    assert [r["id"] for r in records] == ["cmn_eng-0044", "en_entities-0101"]
    assert 1 <= len(records[0]["hyps"]) <= 2
    assert {"text", "tokens", "sum_logprob", "avg_logprob"} <= set(records[0]["hyps"][0])

    out = workspace / "nbest" / "tiny.jsonl"
    with monkeypatch.context() as patch:
        watch_decoding(patch, die_after_first_batch=True)
        with pytest.raises(KeyboardInterrupt):
            main(nbest_args(out, "beam_size=3"))
    assert not out.exists()
    with monkeypatch.context() as patch:
        decoded = watch_decoding(patch)
        main(nbest_args(out, "beam_size=3"))
    assert decoded == ["en_entities-0101"]  # the first utterance was not decoded again
    assert out.read_bytes() == fresh.read_bytes()
    assert not (workspace / "nbest" / "tiny.jsonl.resume").exists()  # state deleted once complete


def test_nbest_rerun_with_other_settings_after_a_kill_starts_fresh(workspace, monkeypatch):
    """A run killed with beam 3 and rerun with beam 2 gives exactly what a fresh beam-2 run gives."""
    fresh = workspace / "fresh_beam2.jsonl"
    main(nbest_args(fresh, "beam_size=2"))
    out = workspace / "nbest" / "tiny.jsonl"
    with monkeypatch.context() as patch:
        watch_decoding(patch, die_after_first_batch=True)
        with pytest.raises(KeyboardInterrupt):
            main(nbest_args(out, "beam_size=3"))
    with monkeypatch.context() as patch:
        decoded = watch_decoding(patch)
        main(nbest_args(out, "beam_size=2"))
    assert decoded == ["cmn_eng-0044", "en_entities-0101"]  # nothing of the beam-3 run reused
    assert out.read_bytes() == fresh.read_bytes()
