"""encode --layout own -> train_retriever -> eval_retrieval end to end on the real fixture clips
(Whisper tiny.en's encoder, a from-scratch character text tower), plus the stages' input errors."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from workbench.cli import main
from workbench.metrics.intervals import UtteranceRatios
from workbench.reporting.results import ResultsFile

FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture()
def corpus(tmp_path) -> Path:
    shutil.copytree(FIXTURES / "audio", tmp_path / "audio")
    shutil.copy(FIXTURES / "tiny.jsonl", tmp_path / "test.jsonl")
    return tmp_path / "test.jsonl"


def _common(tmp_path) -> list[str]:
    return ["--set", "tracking.backend=disk", "--set", f"tracking.uri={tmp_path / 'runs'}"]


def test_frames_train_eval_end_to_end(corpus, tmp_path, whisper_tiny_en_path):
    frames = tmp_path / "frames"
    assert main(["encode", "--layout", "own", str(corpus), "--out", str(frames),
                 "--set", f"model={whisper_tiny_en_path}"]) == 0
    # a second run finds every utterance stored: resumable
    assert main(["encode", "--layout", "own", str(corpus), "--out", str(frames),
                 "--set", f"model={whisper_tiny_en_path}"]) == 0

    experiment = tmp_path / "tiny_glclap.yaml"
    experiment.write_text("name: tiny_glclap\nmethod: glclap\nlosses: {global: 1.0, local: 1.0}\n")
    out = tmp_path / "retriever"
    assert main([
        "train_retriever", "--experiment", str(experiment), "--manifest", str(corpus), "--frames", str(frames),
        "--out", str(out), "--set", f"model={whisper_tiny_en_path}", "--set", "architecture.text_encoder=chars",
        "--set", "architecture.symbol_dim=32", "--set", "architecture.symbol_layers=1", "--set", "loop.epochs=2",
        "--set", "loop.batch_size=2", *_common(tmp_path),
    ]) == 0
    summary = json.loads((out / "train.json").read_text())
    assert summary["examples"] == 2 and summary["epochs"] == 2

    vocabulary = tmp_path / "hotwords.txt"
    vocabulary.write_text("Totoro\nSpiriva\n# comment\nWegovy\n")
    hypotheses = tmp_path / "hyp.jsonl"
    hypotheses.write_text(
        json.dumps({"id": "cmn_eng-0044", "hypothesis": "这个问题你先谷歌一下就知道了"}) + "\n"
        + json.dumps({"id": "en_entities-0101", "hypothesis": "My daughter watches Pono every single weekend."}) + "\n"
    )
    evaluation = tmp_path / "eval"
    arguments = ["eval_retrieval", "--manifest", str(corpus), "--hypotheses", str(hypotheses), "--vocabulary",
                 str(vocabulary), "--retriever", str(out), "--frames", str(frames), "--out", str(evaluation),
                 "--set", "vocabularies=[own, lists, '40']", *_common(tmp_path)]
    assert main(arguments) == 2  # fusion: dev (the default) without dev queries: a ConfigError, before any work
    # the fixture has no dev split: its two utterances stand in for dev queries (the plumbing is what is tested)
    assert main([*arguments, "--dev-manifest", str(corpus), "--dev-hypotheses", str(hypotheses),
                 "--set", "longform_clips_per_recording=2", "--set", "longform_window_seconds=2.0"]) == 0
    metrics = json.loads((evaluation / "metrics.json").read_text())
    for setting in ("own", "lists", "40"):  # the fusion chosen per vocabulary, never below its inputs on dev
        fusion = metrics[setting]["fusion"]
        assert fusion["tuned"] and fusion["dev_queries"] == 2 and fusion["method"] in ("minmax", "zscore", "rrf")
        assert fusion["dev_exact@1_recall"] >= max(fusion["dev_learned_exact@1_recall"],
                                                   fusion["dev_phonetic_exact@1_recall"])
        # dev = test here, so the test's fused R@1 is the dev's
        assert metrics[setting]["fused"]["exact@1_recall"] == fusion["dev_exact@1_recall"]
    assert "Fusion (tuned on the dev queries' exact R@1" in (evaluation / "table.md").read_text()
    assert metrics["vocabularies"] == {"own": 2, "lists": 5, "40": 40}
    for setting in ("own", "lists", "40"):
        for scorer in ("phonetic", "learned", "fused"):
            assert 0.0 <= metrics[setting][scorer]["exact@10_recall"] <= 1.0
    assert metrics["own"]["phonetic"]["exact@10_recall"] == 1.0  # 2 words, top 10: both found
    rankings = [json.loads(line) for line in (evaluation / "rankings.jsonl").read_text().splitlines()]
    assert {r["method"] for r in rankings} == {"phonetic", "learned", "fused"}
    assert "| own | 2 | phonetic |" in (evaluation / "table.md").read_text()
    longform = metrics["longform"]  # 2 clips (~6.4 s) joined, cut into 2-s windows
    assert longform["windows"] == 4 and longform["queries"] == 2
    assert longform["q2c_r@5"] == 1.0  # 4 windows: every query's window is in its top 5
    # per-item counts: Q→C and the lists metrics by test utterance, C→Q by window (ratios_longform.json)
    ratios = UtteranceRatios.from_json(json.loads((evaluation / "ratios.json").read_text()), "ratios.json")
    assert ratios.ids == ("cmn_eng-0044", "en_entities-0101")
    assert {"40/learned/exact@10_recall", "own/fused/substring@1_precision", "longform/q2c_r@1"} <= set(ratios.metrics)
    windows = UtteranceRatios.from_json(json.loads((evaluation / "ratios_longform.json").read_text()), "longform")
    assert len(windows.ids) == 4 and set(windows.metrics) == {f"longform/c2q_r@{k}" for k in (1, 2, 5, 10)}
    results = ResultsFile(metrics)  # the report reads the intervals from metrics.json by these names
    for name in ("longform/q2c_r@1", "longform/c2q_r@1", "lists/fused/exact@1_recall"):
        assert results.metric(f"{name}_ci_lo") <= results.metric(name) <= results.metric(f"{name}_ci_hi")


def test_eval_refuses_hypotheses_missing_test_ids(corpus, tmp_path, capsys):
    vocabulary = tmp_path / "v.txt"
    vocabulary.write_text("Totoro\n")
    hypotheses = tmp_path / "hyp.jsonl"
    hypotheses.write_text(json.dumps({"id": "en_entities-0101", "hypothesis": "x"}) + "\n")
    assert main(["eval_retrieval", "--manifest", str(corpus), "--hypotheses", str(hypotheses), "--vocabulary",
                 str(vocabulary), "--out", str(tmp_path / "e"), *_common(tmp_path)]) == 2  # an InputError: one line
    assert re.search(r"hyp\.jsonl lacks 1 test utterance.*cmn_eng-0044", capsys.readouterr().err)


def test_eval_names_a_duplicate_hotword_line(corpus, tmp_path, capsys):
    vocabulary = tmp_path / "v.txt"
    vocabulary.write_text("Totoro\ntotoro\n")
    hypotheses = tmp_path / "hyp.jsonl"
    ids = ("cmn_eng-0044", "en_entities-0101")
    hypotheses.write_text("".join(json.dumps({"id": i, "hypothesis": "x"}) + "\n" for i in ids))
    assert main(["eval_retrieval", "--manifest", str(corpus), "--hypotheses", str(hypotheses), "--vocabulary",
                 str(vocabulary), "--out", str(tmp_path / "e"), *_common(tmp_path)]) == 2
    assert "v.txt:2" in capsys.readouterr().err


def test_train_refuses_a_rada_experiment_without_rada_output(corpus, tmp_path):
    experiment = tmp_path / "r.yaml"
    experiment.write_text("name: r\nmethod: glclap\nlosses: {global: 1.0}\nrada: true\n")
    assert main(["train_retriever", "--experiment", str(experiment), "--manifest", str(corpus), "--frames",
                 str(tmp_path / "f"), "--out", str(tmp_path / "o"), *_common(tmp_path)]) == 2


def test_frozen_text_features_are_cached_by_word(tmp_path, minilm_path):
    import torch

    from workbench.retrieval.evaluation import cached_text_features, text_features
    from workbench.retrieval.models import ArchitectureConfig, build_retriever, text_encoder_of
    from workbench.testing.dummies import tiny_whisper

    config = ArchitectureConfig(text_encoder="minilm", projection_dim=16, projection_hidden=32)
    model = build_retriever("glclap", tiny_whisper(), text_encoder_of(config, minilm_path), config)
    first = cached_text_features(model, ["Wegovy", "Spiriva"], tmp_path, 8)
    calls = []
    original = model.text_features
    model.text_features = lambda words: calls.append(list(words)) or original(words)
    second = cached_text_features(model, ["Spiriva", "Ponyo", "Wegovy"], tmp_path, 8)
    assert calls == [["Ponyo"]]  # only the new word is encoded
    assert torch.allclose(second[[0, 2]], first[[1, 0]])
    assert torch.allclose(second, text_features(model, ["Spiriva", "Ponyo", "Wegovy"]), atol=1e-5)


def test_report_shows_gaps_and_the_baseline_on_rada_filtered_lists(tmp_path):
    from workbench.reporting.results import retrieval_from_files, tables_markdown

    experiments = tmp_path / "experiments"
    experiments.mkdir()
    (experiments / "a_base.yaml").write_text("name: a_base\nlabel: GLCLAP\ntable: glclap\nrow: 1\nmethod: glclap\n"
                                             "losses: {global: 1.0}\n")
    (experiments / "b_rada.yaml").write_text("name: b_rada\nlabel: +RADA\ntable: glclap\nrow: 2\nmethod: glclap\n"
                                             "losses: {global: 1.0}\nrada: true\n")

    def block(r1):
        scores = {f"{mode}@{k}_recall": r1 for mode in ("exact", "substring") for k in (1, 2, 5, 10)}
        return {**scores, "exact@1_f1": r1}

    def write(name, size, phonetic, learned, rada=False):
        out = tmp_path / "results" / name / "eval"
        out.mkdir(parents=True)
        metrics = {"vocabularies": {"lists": size}, "lists": {"phonetic": block(phonetic), "learned": block(learned),
                                                               "fused": block(learned)}}
        if rada:
            metrics["rada"] = {"lists_before": 10, "lists_after": 8}
        (out / "metrics.json").write_text(json.dumps(metrics))

    write("phonetic", 10, 0.5, 0.0)
    write("b_rada", 8, 0.625, 0.25, rada=True)
    text = tables_markdown(retrieval_from_files(tmp_path / "results", experiments))
    assert "| phonetic baseline (ASR 1-best) | phonetic | 10 | 50.00 |" in text
    assert "| phonetic baseline, RADA-filtered lists | phonetic | 8 | 62.50 |" in text
    assert "| +RADA | learned | 8 | 25.00 |" in text
    assert "| GLCLAP | learned | – | – | – | – | – | – |" in text  # not run: a gap, never a zero
