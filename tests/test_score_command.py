"""`workbench score`: a table and JSON for matching ids; a clear refusal listing missing ids."""

import json

import pytest

from workbench.cli import main


def write(path, records):
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return path


@pytest.fixture
def refs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no params.yaml here: the built-in defaults
    return write(tmp_path / "ref.jsonl", [
        {"id": "a", "text": "我们明天开meeting讨论budget", "language": "zh", "hotwords": ["meeting", "budget"]},
        {"id": "b", "text": "My doctor prescribed Xarelto.", "language": "en", "hotwords": ["Xarelto"]},
    ])


def test_score_prints_table_and_writes_json(tmp_path, refs, capsys):
    hyps = write(tmp_path / "hyp.jsonl", [
        {"id": "a", "hypothesis": "我们明天开米听讨论budget"}, {"id": "b", "hypothesis": "my doctor prescribed xarelto"},
    ])
    main(["score", "--ref", str(refs), "--hyp", str(hyps), "--out", str(tmp_path / "s.json"),
          "--per-utterance", str(tmp_path / "u.jsonl")])
    table = capsys.readouterr().out
    assert "| pier |" in table and "| ker |" in table
    scores = json.loads((tmp_path / "s.json").read_text())
    # utterance a: meeting -> 米 (S) + 听 (I, adjacent): 2 POI errors over 2 POI tokens; b has no POI
    assert scores["pier"] == 1.0 and scores["pier_excluded_utterances"] == 1
    assert scores["ker"] == pytest.approx(1 / 3)
    assert len((tmp_path / "u.jsonl").read_text().splitlines()) == 2


def test_score_refuses_mismatched_ids(tmp_path, refs):
    hyps = write(tmp_path / "hyp.jsonl", [{"id": "a", "hypothesis": "x"}, {"id": "c", "hypothesis": "y"}])
    with pytest.raises(SystemExit) as caught:
        main(["score", "--ref", str(refs), "--hyp", str(hyps)])
    message = str(caught.value)
    assert "ids do not match" in message and ": b" in message and ": c" in message


def test_score_names_bad_line(tmp_path, refs):
    hyps = write(tmp_path / "hyp.jsonl", [{"id": "a", "hypothesis": "x"}, {"id": "b"}])
    with pytest.raises(SystemExit, match=r"hyp.jsonl:2: field 'hypothesis'"):
        main(["score", "--ref", str(refs), "--hyp", str(hyps)])
