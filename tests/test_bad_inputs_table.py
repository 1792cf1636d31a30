"""One bad input per stage family: each is one line on stderr naming the file (and line or field),
exit status 2, no traceback (the CLI catches WorkbenchError only)."""

from __future__ import annotations

import json
import shutil

import pytest

from conftest import FIXTURES
from workbench.cli import main


@pytest.fixture
def work(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    shutil.copytree(FIXTURES, tmp_path / "fixtures")
    return tmp_path


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return str(path)


def manifest_without_text(work):
    rows = [json.loads(line) for line in (work / "fixtures/tiny.jsonl").read_text().splitlines()]
    del rows[1]["text"]
    return write(work / "fixtures/bad.jsonl", "".join(json.dumps(r) + "\n" for r in rows))


CASES = {
    # family: (argv built in the work dir, what the line must name)
    "manifest (evaluate)": (lambda w: ["evaluate", "--manifest", manifest_without_text(w), "--out", "o"],
                            ["bad.jsonl:2", "text"]),
    "missing input (nbest)": (lambda w: ["nbest", "--manifest", "nowhere/test.jsonl", "--out", "o.jsonl"],
                              ["nowhere/test.jsonl"]),
    "params override (nbest)": (lambda w: ["nbest", "--manifest", "fixtures/tiny.jsonl", "--out", "o.jsonl",
                                           "--set", "beam_sise=3"], ["beam_sise"]),
    "experiment (train_asr)": (lambda w: ["train_asr", "--experiment",
                                          write(w / "exp/ce.yaml", "name: ce\nlosses: {ce: 1}\nbogus: 1\n"),
                                          "--manifest", "fixtures/tiny.jsonl", "--pool", "pool.jsonl", "--out", "o"],
                               ["ce.yaml", "bogus"]),
    "experiment (train_retriever)": (lambda w: ["train_retriever", "--experiment",
                                                write(w / "exp/x.yaml", "name: x\nmethod: nope\n"),
                                                "--manifest", "fixtures/tiny.jsonl", "--frames", "frames",
                                                "--out", "o"],
                                     ["x.yaml"]),
    "vocabulary (rada)": (lambda w: ["rada", "--vocabulary", "nowhere.txt", "--out", "o"], ["nowhere.txt"]),
    "hypotheses (eval_retrieval)": (lambda w: ["eval_retrieval", "--manifest", "fixtures/tiny.jsonl", "--hypotheses",
                                               write(w / "hyp.jsonl", "{not json\n"), "--vocabulary",
                                               write(w / "v.txt", "Zorbulaxin\n"), "--out", "o"], ["hyp.jsonl"]),
    "speech-LLM models (eval_contextual)": (lambda w: ["eval_contextual", "--manifest",
                                                       "fixtures/tiny.jsonl", "--models",
                                                       "no-equals-sign", "--frames", "frames", "--out", "o"],
                                            ["no-equals-sign"]),
    "speech-LLM config (grpo_speechllm)": (lambda w: ["grpo_speechllm", "--sft", "sft",
                                                      "--manifest", "fixtures/tiny.jsonl",
                                                      "--vocabulary", write(w / "v.txt", "Zorbulaxin\n"),
                                                      "--frames", "frames",
                                                      "--out", "o", "--set", "num_generations=1"], ["num_generations"]),
    "keywords (s1s2_replay)": (lambda w: ["s1s2_replay", "--manifest", "fixtures/tiny.jsonl", "--out", "o",
                                          "--keywords", "nowhere.txt"], ["nowhere.txt"]),
    "hypotheses (score)": (lambda w: ["score", "--ref", "fixtures/tiny.jsonl", "--hyp", write(w / "h.jsonl", "{\n")],
                           ["h.jsonl:1"]),
    "baseline (regress)": (lambda w: ["regress", "--baseline", write(w / "b.json", "not json")], ["b.json"]),
    "metrics (table)": (lambda w: ["table", write(w / "m.json", "{"), "--out", "t.md"], ["m.json"]),
    "corpus pairs (corpus)": (lambda w: ["corpus", "--text-dir", "fixtures", "--out", "c", "--set", "pairs=[xx_yy]"],
                              ["xx_yy"]),
    "convert source (convert)": (lambda w: ["convert", "kaldi", "--source", "nowhere", "--out", "m.jsonl",
                                            "--language", "zh", "--split", "test"], ["nowhere"]),
}


@pytest.mark.parametrize("family", CASES)
def test_bad_input_is_one_line_and_exit_2(family, work, capsys):
    build, named = CASES[family]
    code = main(build(work))
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("workbench ")]
    assert code == 2, err[-2000:]
    assert "Traceback" not in err
    assert len(lines) == 1, err[-2000:]
    for text in named:
        assert text in lines[0], lines[0]
