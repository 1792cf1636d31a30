"""The nearmiss stage end to end: real Whisper base scores, an OpenAI-compatible stub LLM on
127.0.0.1, the real phonetic source; pool + stats written, LLM answers cached, resumable."""

import json
import shutil
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import torch

import workbench.stages.nearmiss as nearmiss_stage
from conftest import FIXTURES
from workbench.cli import main
from workbench.data.resume import resume_root
from workbench.runner import PARTIAL_RECORDS
from workbench.testing.dummies import tiny_whisper


def counting(monkeypatch, killed_after_first_batch: bool = False) -> list[str]:
    """The ids the next run computes pools for; ``killed_after_first_batch``: the run dies (like
    kill -9) once its first batch of pools is stored."""
    computed, real = [], nearmiss_stage.NearMissPools.__call__

    def wrapped(self, model, utterances, hypotheses, features):
        for batch in real(self, model, utterances, hypotheses, features):
            computed.extend(pool.item.id for pool in batch)
            yield batch
            if killed_after_first_batch:
                raise KeyboardInterrupt
    monkeypatch.setattr(nearmiss_stage.NearMissPools, "__call__", wrapped)
    return computed


class _ChatHandler(BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 (http.server's naming)
        length = int(self.headers["Content-Length"])
        body = json.loads(self.rfile.read(length))
        self.server.requests.append(body)
        content = json.dumps(["古狗", "goggle", "Googles"])
        payload = json.dumps({"choices": [{"message": {"role": "assistant", "content": content}}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


@pytest.fixture()
def chat_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _ChatHandler)
    server.requests = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()


def test_nearmiss_stage_pool_stats_cache_and_resume(tmp_path, monkeypatch, whisper_base_path, chat_server):
    monkeypatch.chdir(tmp_path)
    shutil.copytree(FIXTURES, tmp_path / "fixtures")
    nbest = tmp_path / "nbest.jsonl"
    hyps = {
        "cmn_eng-0044": ["这个问题你先 Google 一下就知道了", "这个问题你先古狗一下就知道了",
                         "这个问题你先够够一下就知道了"],
        "en_entities-0101": ["My daughter watches ponio every single weekend."],
    }
    nbest.write_text("".join(json.dumps({"id": i, "hyps": [{"text": t} for t in h]}) + "\n" for i, h in hyps.items()))
    url = f"http://127.0.0.1:{chat_server.server_address[1]}/v1"
    args = [
        "nearmiss", "--manifest", "fixtures/tiny.jsonl", "--nbest", str(nbest), "--out", "pool/pool.jsonl",
        "--stats", "pool/stats.json", "--cache", "cache", "--set", f"model={whisper_base_path}",
        "--set", "llm.backend=openai", "--set", f"llm.base_url={url}", "--set", "llm.model=stub",
        "--set", "tracking.backend=disk", "--set", "tracking.uri=runs",
    ]
    main(args)
    records = [json.loads(line) for line in (tmp_path / "pool/pool.jsonl").read_text().splitlines()]
    assert [r["id"] for r in records] == ["cmn_eng-0044", "en_entities-0101"]
    mandarin, english = records
    assert english["pois"] == [] and english["negatives"] == []  # no POI: kept, excluded from NM/utt
    sources = {n["source"] for n in mandarin["negatives"]}
    assert sources == {"nbest", "llm", "phonetic"}
    texts = {n["text"] for n in mandarin["negatives"]}
    assert "这个问题你先古狗一下就知道了。" in texts and "这个问题你先够够一下就知道了。" in texts
    for negative in mandarin["negatives"]:
        assert {"acoustic_margin", "phone_dist", "text_dist", "kept", "reason", "edit", "selected"} <= set(negative)
        assert negative["kept"] == (negative["reason"] == "kept")
    assert sum(n["selected"] for n in mandarin["negatives"]) <= 4
    stats = json.loads((tmp_path / "pool/stats.json").read_text())
    assert stats["utterances_without_poi"] == 1 and stats["llm"]["requests"] == 1 and stats["llm"]["failures"] == {}
    assert set(stats["gates"]) == {"none", "acoustic", "acoustic+phoneme", "acoustic+text", "acoustic+phoneme+text"}
    assert stats["gates"]["none"]["kept"] >= stats["gates"]["acoustic+phoneme+text"]["kept"]
    assert "| acoustic+phoneme+text |" in (tmp_path / "pool/stats.md").read_text()
    assert len(chat_server.requests) == 1

    # rerun: the LLM answer comes from the cache, no new request
    main(args)
    assert len(chat_server.requests) == 1
    assert json.loads((tmp_path / "pool/stats.json").read_text())["llm"]["cached"] == 1

    # resume: utterances already in the resume state's records are not recomputed
    resumable = [*args, "--set", "clips_per_batch=1"]
    with monkeypatch.context() as patch:
        counting(patch, killed_after_first_batch=True)
        with pytest.raises(KeyboardInterrupt):
            main(resumable)
    (partial,) = resume_root(tmp_path / "pool/pool.jsonl").glob(f"*/{PARTIAL_RECORDS}")
    (done,) = [json.loads(line) for line in partial.read_text().splitlines()]
    assert done["id"] == "cmn_eng-0044"
    partial.write_text(json.dumps(dict(done, reference_score=123.0)) + "\n")
    main(resumable)
    resumed = [json.loads(line) for line in (tmp_path / "pool/pool.jsonl").read_text().splitlines()]
    assert resumed[0]["reference_score"] == 123.0 and resumed[1]["id"] == "en_entities-0101"
    assert not resume_root(tmp_path / "pool/pool.jsonl").exists()  # state deleted once complete


def test_nearmiss_stage_bad_inputs_are_located(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    shutil.copytree(FIXTURES, tmp_path / "fixtures")
    nbest = tmp_path / "nbest.jsonl"
    nbest.write_text(json.dumps({"id": "cmn_eng-0044", "hyps": [{"text": "x"}]}) + "\n")
    base = ["nearmiss", "--manifest", "fixtures/tiny.jsonl", "--nbest", str(nbest), "--out", "p.jsonl",
            "--stats", "s.json",
            "--set", "tracking.backend=disk", "--set", "tracking.uri=runs"]
    assert main(base + ["--set", "llm.backend=none", "--set", "sources=[nbest]"]) == 2
    assert "en_entities-0101" in capsys.readouterr().err
    nbest.write_text(json.dumps({"id": "cmn_eng-0044", "hyps": [{"text": "x"}]}) + "\n"
                     + json.dumps({"id": "en_entities-0101"}) + "\n")
    assert main(base + ["--set", "llm.backend=none", "--set", "sources=[nbest]"]) == 2
    assert "nbest.jsonl:2: field 'hyps'" in capsys.readouterr().err
    assert main(base + ["--set", "sources=[nbest, oracle]"]) == 2
    assert "oracle" in capsys.readouterr().err
    assert main(base + ["--set", "llm.backend=none"]) == 2
    assert "llm.backend is 'none'" in capsys.readouterr().err
    assert main(base + ["--set", "llm.backend=openai"]) == 2  # no base_url: the config's own check, located
    error = capsys.readouterr().err
    assert "nearmiss.llm" in error and "base_url" in error


def test_nearmiss_rerun_with_other_settings_after_a_kill_starts_fresh(tmp_path, monkeypatch):
    """A run killed with one gate and rerun with another gives exactly what a fresh run with the
    other gate gives: nothing of the killed run's records is reused."""
    monkeypatch.chdir(tmp_path)
    shutil.copytree(FIXTURES, tmp_path / "fixtures")
    model = tiny_whisper()
    torch.save({"dims": model.dims.__dict__, "model_state_dict": model.state_dict()}, tmp_path / "tiny.pt")
    nbest = tmp_path / "nbest.jsonl"
    hyps = {"cmn_eng-0044": ["这个问题你先古狗一下就知道了", "这个问题你先够够一下就知道了"],
            "en_entities-0101": ["My daughter."]}
    nbest.write_text("".join(json.dumps({"id": i, "hyps": [{"text": t} for t in h]}) + "\n" for i, h in hyps.items()))

    def args(out, margin):
        return ["nearmiss", "--manifest", "fixtures/tiny.jsonl", "--nbest", str(nbest), "--out", f"{out}/pool.jsonl",
                "--stats", f"{out}/stats.json", "--set", "model=tiny.pt", "--set", "sources=[nbest, phonetic]",
                "--set", "llm.backend=none", "--set", "clips_per_batch=1",
                "--set", f"gate.max_acoustic_margin={margin}",
                "--set", "tracking.backend=disk", "--set", "tracking.uri=runs"]

    main(args("fresh", 2.0))
    with monkeypatch.context() as patch:
        killed = counting(patch, killed_after_first_batch=True)
        with pytest.raises(KeyboardInterrupt):
            main(args("pool", 0.0))
    assert killed == ["cmn_eng-0044"] and not (tmp_path / "pool/pool.jsonl").exists()
    with monkeypatch.context() as patch:
        computed = counting(patch)
        main(args("pool", 2.0))
    assert computed == ["cmn_eng-0044", "en_entities-0101"]  # nothing of the other gate's run reused
    assert (tmp_path / "pool/pool.jsonl").read_bytes() == (tmp_path / "fresh/pool.jsonl").read_bytes()
    (left,) = resume_root(tmp_path / "pool/pool.jsonl").iterdir()  # the finished state is gone; the other
    assert (left / PARTIAL_RECORDS).exists()  # gate's state is kept (going back to it resumes it)
