"""The s1s2_replay stage end to end on the committed clips, with a tiny random Whisper."""

import json
import shutil

import torch
from mlflow.tracking import MlflowClient

from conftest import FIXTURES
from workbench.cli import main
from workbench.metrics.intervals import UtteranceRatios
from workbench.testing.dummies import tiny_whisper

SYSTEMS = ["no_bias", "s1", "s1_s2a", "s1_s2b", "s1_s2a_uncapped", "s1_s2b_uncapped"]


def test_s1s2_replay_stage(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    shutil.copytree(FIXTURES, tmp_path / "corpus")
    records = [json.loads(line) for line in (FIXTURES / "tiny.jsonl").read_text(encoding="utf-8").splitlines()]
    with open(tmp_path / "corpus" / "test.jsonl", "w", encoding="utf-8") as handle:
        for turn in range(2):  # 4 utterances: two conversations of 2
            for record in records:
                handle.write(json.dumps({**record, "id": f"{record['id']}-{turn}"}, ensure_ascii=False) + "\n")
    model = tiny_whisper()
    torch.save({"dims": model.dims.__dict__, "model_state_dict": model.state_dict()}, tmp_path / "tiny.pt")
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    main([
        "s1s2_replay", "--manifest", "corpus/test.jsonl", "--out", "out",
        "--set", "model=tiny.pt", "--set", f"tracking.uri={store}", "--set", "conversation_size=2",
        "--set", "threads=1",
        "--set", f"systems={json.dumps(SYSTEMS)}", "--set", "max_tokens_per_second=1", "--set", "beam_size=3",
        "--set", "n_best=3", "--set", "rescoring.secondary_decode={beam_size: 3, patience: 1.0, n_best: 2}",
    ])
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert metrics["name"] == "corpus" and (metrics["utterances"], metrics["conversations"]) == (4, 2)
    systems = metrics["systems"]
    assert set(systems) == set(SYSTEMS)
    for name in SYSTEMS:
        assert {"wer", "cer", "mer", "proper_noun_hit_rate"} <= set(systems[name])
    for name in ("s1_s2a", "s1_s2b"):  # the appendix cap: 4 commits earn 0.2 tokens, so nothing triggers
        assert systems[name]["trigger_rate"] == 0.0 and systems[name]["commits"] == 4
    for name in ("s1_s2a_uncapped", "s1_s2b_uncapped"):  # every flagged commit triggers
        assert systems[name]["trigger_rate"] == systems[name]["flagged_rate"] > 0
        assert 0.0 <= systems[name]["win_rate"] + systems[name]["loss_rate"] <= 1.0
    b = systems["s1_s2b_uncapped"]  # no cap, no concurrency limit: a second pass for every trigger
    assert b["second_pass_decoded"] == 4 * b["trigger_rate"] and b["second_pass_overloaded"] == 0

    traces = [json.loads(line) for line in (tmp_path / "out" / "traces.jsonl").read_text().splitlines()]
    assert len(traces) == 4 * len(SYSTEMS)
    by_system = {name: [t for t in traces if t["system"] == name] for name in SYSTEMS}
    assert all(t["prompt"] is None for t in by_system["no_bias"])
    # S1 prompts carry the room's keywords (the conversation's hotwords)
    assert all("Google" in t["prompt_text"] and "Ponyo" in t["prompt_text"] for t in by_system["s1"])
    # nothing triggered under the cap: S1+S2-A committed what S1 did, from the very same decodes
    assert [t["final_text"] for t in by_system["s1_s2a"]] == [t["final_text"] for t in by_system["s1"]]
    assert all(t["shared_decode"] for t in by_system["s1_s2a"] + by_system["s1_s2b"])
    assert systems["s1_s2a"]["decodes_shared_rate"] == 1.0
    uncapped = by_system["s1_s2a_uncapped"]
    for t in uncapped:
        assert {"rescore_applied", "primary_text", "best_text", "rescore_reason", "cand_count", "decision"} <= set(t)
        assert t["decision"]["trigger"] == bool(t["cand_count"])
        assert t["final_text"] == (t["best_text"] if t["rescore_applied"] else t["primary_text"])
    wins = sum(t["rescore_applied"] and t["errors_final"] < t["errors_primary"] for t in uncapped)
    losses = sum(t["rescore_applied"] and t["errors_final"] > t["errors_primary"] for t in uncapped)
    triggered = sum(t["decision"]["trigger"] for t in uncapped)
    assert systems["s1_s2a_uncapped"]["win_rate"] == wins / triggered
    assert systems["s1_s2a_uncapped"]["loss_rate"] == losses / triggered

    # every rate per commit (ids: the committed utterances', shared by the systems), with its interval
    ratios = UtteranceRatios.from_json(json.loads((tmp_path / "out" / "ratios.json").read_text()), "ratios.json")
    assert ratios.ids == tuple(f"{r['id']}-{turn}" for turn in range(2) for r in records)
    for name, (numerator, denominator) in ratios.metrics.items():
        system, metric = name.split(".")
        if denominator.sum():
            assert numerator.sum() / denominator.sum() == systems[system][metric], name
            assert systems[system][f"{metric}_ci_lo"] <= systems[system][metric] <= systems[system][f"{metric}_ci_hi"]
    assert {f"{name}.mer" for name in SYSTEMS} <= set(ratios.metrics) and "s1_s2b.trigger_rate" in ratios.metrics
    assert "latency_p50_ms_ci_lo" not in systems["s1_s2b_uncapped"]  # a percentile: no interval

    table = (tmp_path / "out" / "table.md").read_text()
    assert table.count("\n| ") == 1 + len(SYSTEMS) and "| S1+S2-B |" in table
    assert f"| S1 | {100 * systems['s1']['wer']:.2f} [{100 * systems['s1']['wer_ci_lo']:.2f}, " in table

    client = MlflowClient(store)
    (run,) = client.search_runs([client.get_experiment_by_name("s1s2").experiment_id])
    assert run.info.status == "FINISHED" and run.info.run_name == "s1s2_replay-corpus"
    assert run.data.metrics["s1.mer"] == systems["s1"]["mer"]
    assert run.data.metrics["s1.mer_ci_hi"] == systems["s1"]["mer_ci_hi"]
    assert run.data.params["s1s2_replay.rescoring.rescore.max_trigger_rate"] == "0.05"
    names = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"metrics.json", "ratios.json", "table.md", "traces.jsonl", "config.json"} <= names


def test_s1s2_replay_rejects_an_unknown_system(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    shutil.copytree(FIXTURES, tmp_path / "corpus")
    code = main(["s1s2_replay", "--manifest", "corpus/tiny.jsonl", "--out", "out", "--set", "systems=[s3]"])
    assert code == 2 and "unknown ['s3']" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
