"""The S1/S2 replay engine (workbench.rescoring.replay) at library level: systems, conversations,
room keywords, per-system aggregation, the table, and one small replay on a tiny random Whisper."""

from __future__ import annotations

import json
import math
import shutil

import pytest

from conftest import FIXTURES
from workbench.config import ConfigError, load_config
from workbench.data import Utterance, read_manifest
from workbench.metrics.intervals import UtteranceRatios
from workbench.metrics.options import IntervalConfig
from workbench.metrics.rescoring import CommitOutcome, rescoring_rates, rescoring_ratios
from workbench.metrics.scorer import Reference, Scorer
from workbench.rescoring import S1S2ReplayConfig
from workbench.rescoring.replay import (
    SYSTEMS,
    ReplayResult,
    conversations,
    render_table,
    replay,
    room_keywords,
    system_metrics,
    system_ratios,
)


def _utt(i: int, hotwords=()) -> Utterance:
    return Utterance(id=f"u{i}", audio=f"{i}.wav", duration=1.0, text="t", language="en", split="test",
                     hotwords=hotwords)


def test_systems_registry_and_config_validation():
    assert set(S1S2ReplayConfig().systems) <= set(SYSTEMS)
    assert [s.name for s in SYSTEMS.values() if not s.capped] == ["s1_s2a_uncapped", "s1_s2b_uncapped"]
    assert not SYSTEMS["no_bias"].prompt and SYSTEMS["s1"].prompt and not SYSTEMS["s1"].sources
    assert SYSTEMS["s1_s2a"].sources == ("nbest",) and SYSTEMS["s1_s2b"].sources == ("second_pass",)
    for bad, message in (({"systems": ["s3"]}, r"unknown \['s3'\]"), ({"systems": []}, "unknown"),
                         ({"conversation_size": 0}, "at least 1"), ({"keywords": "room"}, "'conversation' or 'none'")):
        with pytest.raises(ConfigError, match=message):
            load_config(S1S2ReplayConfig, None, "s1s2_replay", bad)


def test_conversations_and_room_keywords():
    utts = [_utt(0, ("Ponyo", "Google")), _utt(1, ("google", "Totoro")), _utt(2)]
    assert [[u.id for u in c] for c in conversations(utts, 2)] == [["u0", "u1"], ["u2"]]
    assert room_keywords(utts, "conversation", None) == ("Ponyo", "Google", "Totoro")  # first spelling kept
    assert room_keywords(utts, "none", None) == ()
    assert room_keywords(utts, "none", ["Xarelto"]) == ("Xarelto",)  # a given list wins


def _record(prompt_chars: int, shared: bool, reasons=(), excluded=None, second=None) -> dict:
    return {"prompt": {"chars": prompt_chars, "strengthened": prompt_chars > 10, "fallback": None},
            "shared_decode": shared, "decision": {"reasons": list(reasons), "excluded": excluded},
            "second_pass": second}


def test_system_metrics_aggregate_scores_prompts_and_rescoring():
    scorer = Scorer()
    scores = [scorer.score(Reference("a", "take Xarelto daily", hotwords=("Xarelto",)), "take Xarelto daily"),
              scorer.score(Reference("b", "call me at 5", hotwords=()), "call me at five")]
    plain = system_metrics(SYSTEMS["no_bias"], scores, [{}, {}], [])
    assert plain["wer"] == pytest.approx(1 / 7) and plain["proper_noun_hit_rate"] == 1.0
    assert "trigger_rate" not in plain and "prompt_chars_mean" not in plain
    records = [_record(8, True, ["short_text"], "rate_cap", {"outcome": "overloaded"}),
               _record(20, False, ["user_keyword"], None, {"outcome": "decoded"})]
    outcomes = [CommitOutcome(False, False, 0, 0), CommitOutcome(True, True, 2, 1, 40.0)]
    m = system_metrics(SYSTEMS["s1_s2b"], scores, records, outcomes)
    assert (m["prompt_chars_mean"], m["prompt_strengthened_rate"], m["decodes_shared_rate"]) == (14, 0.5, 0.5)
    assert (m["trigger_rate"], m["win_rate"], m["loss_rate"], m["replaced"]) == (0.5, 1.0, 0.0, 1)
    assert (m["flagged_rate"], m["rate_capped"]) == (1.0, 1.0)
    assert (m["second_pass_decoded"], m["second_pass_overloaded"], m["second_pass_audio_expired"]) == (1.0, 1.0, 0.0)


def test_rescoring_ratios_sum_to_the_rates():
    outcomes = [CommitOutcome(False, False, 1, 1), CommitOutcome(True, True, 3, 1, 120.0),  # win
                CommitOutcome(True, True, 1, 2, 80.0), CommitOutcome(True, False, 2, 2, 100.0)]  # loss, kept
    ratios, rates = rescoring_ratios(outcomes), rescoring_rates(outcomes)
    assert {k: (n.tolist(), d.tolist()) for k, (n, d) in ratios.items()} == {
        "trigger_rate": ([0, 1, 1, 1], [1, 1, 1, 1]), "win_rate": ([0, 1, 0, 0], [0, 1, 1, 1]),
        "loss_rate": ([0, 0, 1, 0], [0, 1, 1, 1])}
    for name, (numerator, denominator) in ratios.items():
        assert numerator.sum() / denominator.sum() == getattr(rates, name)
    assert all(len(n) == len(d) == 0 for n, d in rescoring_ratios([]).values())


def test_system_ratios_sum_exactly_to_the_system_metrics():
    scorer = Scorer()
    scores = [scorer.score(Reference("a", "take Xarelto daily", hotwords=("Xarelto",)), "take Xarelto daily"),
              scorer.score(Reference("b", "call Ozempic at 5", hotwords=("Ozempic",)), "call osempic at five"),
              scorer.score(Reference("c", "see Totoro 3 times", hotwords=("Totoro",)), "see totoro 3 times")]
    outcomes = [CommitOutcome(True, True, 2, 1, 30.0), CommitOutcome(False, False, 0, 0),
                CommitOutcome(True, True, 1, 3, 50.0)]
    for system in (SYSTEMS["no_bias"], SYSTEMS["s1_s2a"]):
        metrics = system_metrics(system, scores, [{"prompt": {"chars": 1, "strengthened": False, "fallback": None},
                                                   "shared_decode": True,
                                                   "decision": {"reasons": [], "excluded": None}}] * 3, outcomes)
        ratios = system_ratios(system, scores, outcomes)
        rates = {"wer", "cer", "mer", "sacc", "proper_noun_hit_rate", "digit_error_rate"}
        assert set(ratios) == rates | ({"trigger_rate", "win_rate", "loss_rate"} if system.sources else set())
        for name, (numerator, denominator) in ratios.items():
            assert len(numerator) == len(denominator) == 3
            assert numerator.sum() / denominator.sum() == metrics[name], name  # exactly the reported rate
    assert metrics["proper_noun_hit_rate"] == 2 / 3 != 1 - 1 / 3 and metrics["win_rate"] == 0.5  # hits / keywords


def test_table_shows_intervals_where_the_metrics_hold_them():
    metrics = {"s1": {"wer": 0.25, "wer_ci_lo": 0.1, "wer_ci_hi": 0.4, "cer": 0.125, "latency_p50_ms": 12.4}}
    text = render_table("set", [SYSTEMS["s1"]], metrics, 40, 5)
    assert text.splitlines()[6] == "| S1 | 25.00 [10.00, 40.00] | 12.50 | – | – | – | – | – | – | – | 12 | – |"


def test_table_shows_gaps_for_what_does_not_apply():
    metrics = {"no_bias": {"wer": 0.25, "cer": 0.125, "mer": 0.2, "proper_noun_hit_rate": 0.5,
                           "digit_error_rate": math.nan},
               "s1_s2a": {"wer": 0.2, "trigger_rate": 0.05, "win_rate": 1.0, "loss_rate": 0.0, "replaced": 1.0,
                          "latency_p50_ms": 12.4, "latency_p95_ms": 80.6}}
    text = render_table("set", [SYSTEMS["no_bias"], SYSTEMS["s1_s2a"]], metrics, 40, 5)
    lines = text.splitlines()
    assert lines[0] == "# S1/S2 replay: set" and lines[2].startswith("40 utterances in conversations of 5. Rates in %")
    assert lines[4] == ("| system | WER | CER | MER | proper-noun hit | digit ER | trigger | win | loss | replaced "
                        "| +ms p50 | +ms p95 |")
    assert lines[5] == "|" + "---|" * 12
    assert lines[6] == "| no bias | 25.00 | 12.50 | 20.00 | 50.00 | – | – | – | – | – | – | – |"
    assert lines[7] == "| S1+S2-A | 20.00 | – | – | – | – | 5.00 | 100.00 | 0.00 | 1 | 12 | 81 |"


def test_replay_on_a_tiny_whisper(tmp_path):
    from workbench.testing.dummies import tiny_whisper

    shutil.copytree(FIXTURES, tmp_path / "corpus")
    utterances = read_manifest(tmp_path / "corpus" / "tiny.jsonl")
    config = S1S2ReplayConfig(systems=("no_bias", "s1", "s1_s2a_uncapped"), conversation_size=2, beam_size=2, n_best=2,
                              max_tokens_per_second=1.0)
    done = []
    result = replay(tiny_whisper(), utterances, tmp_path / "corpus", config, "tiny", progress=done.append)
    assert isinstance(result, ReplayResult) and done == [len(utterances)]
    assert (result.utterances, result.conversations) == (len(utterances), 1)
    assert [t["system"] for t in result.traces] == [s for s in config.systems for _ in utterances]
    # no_bias decodes the batch, S1 prompts each clip, S1+S2-A shares S1's prompted decodes
    assert result.primary_decodes == 2 * len(utterances)
    assert all(t["shared_decode"] for t in result.traces if t["system"] == "s1_s2a_uncapped")
    summary = json.loads(json.dumps(result.summary()))  # JSON as written, NaN dropped
    assert set(summary["systems"]) == set(config.systems)
    assert "trigger_rate" not in summary["systems"]["s1"] and "trigger_rate" in summary["systems"]["s1_s2a_uncapped"]
    tracked = result.tracked_metrics()
    assert tracked["s1.mer"] == result.metrics["s1"]["mer"] and tracked["primary_decodes"] == 2 * len(utterances)
    assert not any(isinstance(v, float) and math.isnan(v) for v in tracked.values())
    assert result.table().count("\n| ") == 1 + len(config.systems)
    # every rate per commit (items: the utterances' ids), summing to the reported value, with its interval
    ratios = result.tracked_ratios()
    assert ratios.ids == tuple(u.id for u in utterances)
    assert {"s1.wer", "s1_s2a_uncapped.trigger_rate", "no_bias.proper_noun_hit_rate"} <= set(ratios.metrics)
    assert "s1.trigger_rate" not in ratios.metrics and "s1_s2a_uncapped.latency_p50_ms" not in ratios.metrics
    for name, (numerator, denominator) in ratios.metrics.items():
        system, metric = name.split(".")
        if denominator.sum():
            assert numerator.sum() / denominator.sum() == result.metrics[system][metric], name
            low, high = summary["systems"][system][f"{metric}_ci_lo"], summary["systems"][system][f"{metric}_ci_hi"]
            assert low <= result.metrics[system][metric] <= high and tracked[f"{name}_ci_lo"] == low
    back = UtteranceRatios.from_json(json.loads(json.dumps(ratios.to_json())), "ratios.json")
    assert back.ids == ratios.ids and all(back.metrics[k][0].tolist() == v[0].tolist() and
                                          back.metrics[k][1].tolist() == v[1].tolist()
                                          for k, v in ratios.metrics.items())
    assert "s1.wer_ci_lo" in tracked and "s1_s2a_uncapped.latency_p50_ms_ci_lo" not in tracked
    assert IntervalConfig() == config.intervals
