"""`workbench score`: a table and JSON for matching ids; a clear refusal listing missing ids."""

import json
import re

import pytest

from workbench.cli import main
from workbench.metrics.inputs import ScoreInputError, read_pairs


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
        {"id": "a", "hypothesis": "我们明天开米听讨论budget"},
        {"id": "b", "hypothesis": "my doctor prescribed xarelto"},
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


def test_score_refuses_mismatched_ids(tmp_path, refs, capsys):
    hyps = write(tmp_path / "hyp.jsonl", [{"id": "a", "hypothesis": "x"}, {"id": "c", "hypothesis": "y"}])
    assert main(["score", "--ref", str(refs), "--hyp", str(hyps)]) == 2
    message = capsys.readouterr().err
    assert "workbench score: ids do not match" in message and ": b" in message and ": c" in message


def test_score_names_bad_line(tmp_path, refs, capsys):
    hyps = write(tmp_path / "hyp.jsonl", [{"id": "a", "hypothesis": "x"}, {"id": "b"}])
    assert main(["score", "--ref", str(refs), "--hyp", str(hyps)]) == 2
    assert re.search(r"hyp.jsonl:2: field 'hypothesis'", capsys.readouterr().err)
    with pytest.raises(ScoreInputError, match=r"ref.jsonl:3: field 'id' duplicates 'a'"):
        write(refs, [{"id": "a", "text": "x"}, {"id": "b", "text": "y"}, {"id": "a", "text": "z"}])
        read_pairs(refs, hyps)


def test_score_hotwords_list_and_table(tmp_path, refs, capsys):
    hyps = write(tmp_path / "hyp.jsonl", [{"id": "a", "hypothesis": "我们明天开meeting讨论budget"},
                                          {"id": "b", "text": "x"}])
    (tmp_path / "bias.txt").write_text("Xarelto\n\nXarelto\n")  # the hotword reader's rule: repeats collapse
    assert main(["score", "--ref", str(refs), "--hyp", str(hyps), "--hotwords", str(tmp_path / "bias.txt"),
                 "--metrics", "ker", "pier_excluded_utterances", "--out", str(tmp_path / "s.json")]) == 0
    assert capsys.readouterr().out == ("| metric | value (rates in %) |\n|---|---:|\n| ker | 33.33 |\n"
                                       "| pier_excluded_utterances | 1 |\n")
    assert json.loads((tmp_path / "s.json").read_text())["ker"] == pytest.approx(1 / 3)
    (tmp_path / "empty.txt").write_text("\n")
    assert main(["score", "--ref", str(refs), "--hyp", str(hyps), "--hotwords", str(tmp_path / "empty.txt")]) == 2
    assert "empty.txt: no hotwords" in capsys.readouterr().err
