"""The nbest stage: N-best jsonl in manifest order, resumable from its .partial file."""

import json
import shutil

import torch

from workbench.cli import main
from workbench.testing.dummies import tiny_whisper

from conftest import FIXTURES


def test_nbest_stage_resumes_and_writes_in_manifest_order(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    shutil.copytree(FIXTURES, tmp_path / "fixtures")
    model = tiny_whisper()
    torch.save({"dims": model.dims.__dict__, "model_state_dict": model.state_dict()}, tmp_path / "tiny.pt")
    out = tmp_path / "nbest" / "tiny.jsonl"
    out.parent.mkdir()
    # a previous run was killed after the second utterance was written
    done = {"id": "en_entities-0101", "language": "en", "no_speech_prob": 0.0, "hyps": [{"text": "kept"}]}
    (out.parent / "tiny.jsonl.partial").write_text(json.dumps(done) + "\n")
    args = ["nbest", "--manifest", "fixtures/tiny.jsonl", "--out", str(out), "--set", "model=tiny.pt",
            "--set", "beam_size=3", "--set", "n_best=2", "--set", "max_tokens_per_second=1"]
    main(args)
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["id"] for r in records] == ["cmn_eng-0044", "en_entities-0101"]
    assert records[1]["hyps"] == [{"text": "kept"}]  # not decoded again
    assert 1 <= len(records[0]["hyps"]) <= 2 and {"text", "tokens", "sum_logprob", "avg_logprob"} <= set(records[0]["hyps"][0])
    assert not (out.parent / "tiny.jsonl.partial").exists()
