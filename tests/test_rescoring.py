"""Seed 004 S1/S2: NeedRescore cases, rate cap, Rescorer choices, candidates, audio cache, second pass, S1 state."""

from __future__ import annotations

import dataclasses
import threading

import numpy as np
import pytest

from workbench.asr.nbest import Hypothesis
from workbench.config import ConfigError
from workbench.config.loading import load_config
from workbench.rescoring import (
    AudioCacheOptions,
    AudioRef,
    AudioRingBuffer,
    Candidate,
    Commit,
    ConversationState,
    ManualClock,
    NeedRescore,
    PromptOptions,
    RescoreOptions,
    Rescorer,
    RescoringConfig,
    RescoringTask,
    ScoringContext,
    SecondPass,
    SecondPassOptions,
    extract_recent_keywords,
    merge_candidates,
    quality_from_logprob,
    whisper_second_pass,
)
from workbench.rescoring.features import analyse, keyword_near_misses

# ---------------------------------------------------------------- options


def test_appendix_defaults():
    config = RescoringConfig()
    assert (config.prompt.max_chars, config.prompt.room_max_chars) == (600, 500)
    assert (config.prompt.max_keywords, config.prompt.max_recent_lines) == (30, 2)
    r = config.rescore
    assert (r.short_cjk, r.short_en_words, r.q_low_offline, r.q_low_room) == (18, 9, 0.45, 0.50)
    assert (r.delta_margin, r.max_trigger_rate) == (1.5, 0.05)
    assert config.secondary_decode.max_concurrency == 1
    assert config.audio_cache.ttl_sec == 10
    assert config.q_low == 0.45 and dataclasses.replace(config, scene="room").q_low == 0.50


def test_config_loads_partial_nested_sections_and_rejects_bad_values(tmp_path):
    params = tmp_path / "params.yaml"
    params.write_text("s:\n  rescore:\n    short_cjk: 12\n  audio_cache:\n    ttl_sec: 5\n")
    config = load_config(RescoringConfig, params, "s")
    assert config.rescore.short_cjk == 12 and config.rescore.short_en_words == 9  # the rest stays default
    assert config.audio_cache.ttl_sec == 5.0 and config.audio_cache.max_seconds == 60.0
    with pytest.raises(ConfigError, match="max_trigger_rate"):
        load_config(RescoringConfig, params, "s", {"rescore.max_trigger_rate": 1.5})
    with pytest.raises(ConfigError, match="scene"):
        load_config(RescoringConfig, params, "s", {"scene": "stadium"})
    with pytest.raises(ConfigError, match="unknown key"):
        load_config(RescoringConfig, params, "s", {"rescore.q_low": 0.3})


# ---------------------------------------------------------------- features


@pytest.mark.parametrize("text, risk", [
    ("we meet at 3:30", True), ("it costs $5", True), ("up 30% this year", True), ("twenty people came", True),
    ("我们三点见", True), ("一共五十块", True), ("百分之十", True), ("看一下这个文件", False), ("等我一点", False),
    ("one of them came", False), ("see you tomorrow", False),
])
def test_number_risk(text, risk):
    assert analyse(text).number_risk is risk


@pytest.mark.parametrize("text, repetitions", [
    ("我们我们明天开会", 1), ("谢谢你", 0), ("看看再说", 0), ("I went there and and stayed", 1),
    ("thank you thank you", 1),
    ("a normal sentence", 0),
])
def test_repetitions(text, repetitions):
    assert analyse(text).repetitions == repetitions


def test_numbers_and_orphan_units():
    f = analyse("It was 3,000 dollars, up 12.5% or $40, not %")
    assert f.numbers == ("3000", "12.5", "40") and f.orphan_units == 1


def test_keyword_near_misses_by_spelling_and_by_pinyin():
    assert keyword_near_misses(analyse("my daughter watches pono every weekend"), ["Ponyo", "Excel"], 75) == ("Ponyo",)
    assert keyword_near_misses(analyse("明天请章伟来开会"), ["张伟"], 75) == ("张伟",)  # same pinyin, other character
    assert keyword_near_misses(analyse("明天请张伟来开会"), ["张伟"], 75) == ()  # present: a hit, not a near-miss


# ---------------------------------------------------------------- NeedRescore

OPEN = RescoreOptions(max_trigger_rate=1.0, trigger_burst=1.0)  # no cap: the case table tests the features
MID_EN = "we talked about the plan for the launch of the new product line"  # 13 words: neither short nor long
MID_CJK = "我们今天下午在会议室里讨论了新产品的发布计划和市场安排"  # 27 characters
LONG_EN = " ".join([MID_EN, MID_EN])  # 26 words
LONG_CJK = MID_CJK + MID_CJK


@pytest.mark.parametrize("commit, keywords, scene, reasons, trigger, excluded", [
    # each trigger
    (Commit("c", "see you at noon", 0.9), (), "offline", ("short_text",), True, None),
    (Commit("c", "今天天气不错", 0.9), (), "offline", ("short_text",), True, None),
    # 8 words
    (Commit("c", "we will talk about it again later today", 0.9), (), "offline", ("short_text",), True, None),
    (Commit("c", MID_EN, 0.40), (), "offline", ("low_quality",), True, None),
    (Commit("c", MID_EN, 0.48), (), "room", ("low_quality",), True, None),
    (Commit("c", MID_EN + " at 3 pm", 0.9), (), "offline", ("number",), True, None),
    (Commit("c", MID_CJK + "三点开始", 0.9), (), "offline", ("number",), True, None),
    (Commit("c", MID_EN + " with Ponyo", 0.9), ("Ponyo",), "offline", ("user_keyword",), True, None),
    (Commit("c", MID_EN + " with Pono", 0.9), ("Ponyo",), "offline", ("keyword_near_miss",), True, None),
    (Commit("c", MID_CJK + "权利", 0.9), (), "offline", ("homophone_risk",), True, None),
    (Commit("c", MID_EN, 0.9, dedup_trimmed_chars=40), (), "offline", ("dedup_trim",), True, None),
    # boundaries: 18 CJK tokens and 9 words are no longer short
    (Commit("c", MID_CJK[:17], 0.9), (), "offline", ("short_text",), True, None),
    (Commit("c", MID_CJK[:18], 0.9), (), "offline", (), False, "no_reason"),
    (Commit("c", "we talked about the plan for the launch today", 0.9), (), "offline", (), False, "no_reason"),
    # each exclusion
    (Commit("c", MID_EN, 0.48), (), "offline", (), False, "no_reason"),  # 0.48 is fine offline
    (Commit("c", MID_EN, None), (), "offline", (), False, "no_reason"),  # unknown quality: rule skipped
    (Commit("c", MID_EN, 0.9, dedup_trimmed_chars=5), (), "offline", (), False, "no_reason"),
    (Commit("c", LONG_EN + " at 3 pm with Ponyo", 0.9), ("Ponyo",), "offline", ("number", "user_keyword"), False,
     "long_high_quality"),
    (Commit("c", LONG_CJK + "三点", 0.9), (), "offline", ("number",), False, "long_high_quality"),
    (Commit("c", LONG_EN, 0.2), (), "offline", ("low_quality",), True, None),  # long but poor: triggers
])
def test_need_rescore_cases(commit, keywords, scene, reasons, trigger, excluded):
    need = NeedRescore(dataclasses.replace(OPEN, homophone_risk=("权利",)), scene)
    decision = need.decide(commit, keywords)
    assert (decision.reasons, decision.trigger, decision.excluded) == (reasons, trigger, excluded)


def test_need_rescore_is_idempotent_per_commit():
    need = NeedRescore(OPEN)
    first = need.decide(Commit("c1", "see you at noon", 0.9))
    again = need.decide(Commit("c1", "see you at noon", 0.9))
    assert first.trigger and not again.trigger and again.excluded == "already_decided"
    assert again.reasons == first.reasons
    assert need.cap.commits == 1 and need.cap.triggers == 1  # the repeat is not a commit


def test_trigger_rate_cap_holds_at_every_prefix():
    need = NeedRescore(RescoreOptions())  # max_trigger_rate 0.05
    triggered = 0
    for n in range(1, 1001):
        triggered += need.decide(Commit(f"c{n}", MID_EN + " at 3 pm", 0.9)).trigger  # strong: a number
        assert triggered <= 0.05 * n + 1e-9
    assert triggered == 50


def test_weak_triggers_wait_for_a_full_bucket_and_strong_ones_do_not():
    need = NeedRescore(RescoreOptions())
    weak = [need.decide(Commit(f"w{n}", "see you at noon", 0.9)) for n in range(1, 31)]
    assert not any(d.trigger for d in weak) and weak[-1].excluded == "rate_cap"  # 1.5 tokens < burst 2
    assert need.decide(Commit("s", "see you at 3 pm", 0.9)).trigger  # strong: one token is enough
    need = NeedRescore(RescoreOptions())
    fired = [n for n in range(1, 101) if need.decide(Commit(f"w{n}", "see you at noon", 0.9)).trigger]
    assert fired == [40, 60, 80, 100]  # full at 40, then one token every 20 commits keeps it above 1 + 1


# ---------------------------------------------------------------- Rescorer


def cands(*texts: str) -> list[Candidate]:
    return [Candidate(t, "primary" if i == 0 else "nbest", i) for i, t in enumerate(texts)]


def test_digit_protection_keeps_the_primarys_number():
    result = Rescorer().rescore(cands("The rate went up 30% this year", "The rate went up 13% this year",
                                      "The rate went up % this year"))
    assert not result.replaced and result.reasons == ("primary_best",)
    assert result.scores[1].parts["numbers"] == -4.0  # 30 dropped, 13 added
    assert result.scores[2].parts["numbers"] == -3.0  # 30 dropped, a % without a number


def test_a_keyword_gain_does_not_buy_a_number_change():
    context = ScoringContext(user_keywords=("Crestor",))
    result = Rescorer().rescore(cands("take 20 mg of chrestor", "take 40 mg of Crestor"), context)
    assert not result.replaced


def test_keyword_hit_replaces_the_primary():
    result = Rescorer().rescore(
        cands("my daughter watches pono every weekend", "my daughter watches Ponyo every weekend"),
        ScoringContext(user_keywords=("Ponyo",)),
    )
    assert result.replaced and result.final.candidate.text == "my daughter watches Ponyo every weekend"
    assert result.reasons == ("replaced", "keywords+2.00") and result.delta == 2.0


@pytest.mark.parametrize("primary, fixed", [("我们我们明天开会", "我们明天开会"),
                                            ("I went there and and stayed", "I went there and stayed")])
def test_repetition_penalty_replaces_the_stutter(primary, fixed):
    result = Rescorer().rescore(cands(primary, fixed), ScoringContext(language="zh" if "我" in primary else "en"))
    assert result.replaced and result.final.candidate.text == fixed


def test_margin_holds_the_primary_on_context_alone():
    candidates = cands("push it to get hub", "push it to GitHub")
    context = ScoringContext(recent_keywords=("GitHub",))
    held = Rescorer().rescore(candidates, context)
    assert not held.replaced and held.best.candidate.text == "push it to GitHub"
    assert held.delta == 1.0 and held.reasons[0] == "margin_not_met"
    assert held.final.candidate.text == "push it to get hub"
    assert Rescorer(RescoreOptions(delta_margin=0.5)).rescore(candidates, context).replaced


def test_ties_keep_the_primary():
    result = Rescorer().rescore(cands("see you tomorrow", "see you to morrow"))
    assert not result.replaced and result.reasons == ("primary_best",)


def test_script_and_length_sanity():
    context = ScoringContext(language="zh")
    result = Rescorer().rescore(cands("今天开会", "Today meeting", "今天开会Привет", "嗯"), context)
    parts = [s.parts for s in result.scores]
    assert parts[1]["script"] == -2.0  # a translation: no CJK for Mandarin audio
    assert -2.0 < parts[2]["script"] < 0  # a share of Cyrillic letters
    assert parts[3]["length"] == -2.0  # only a filler
    assert not result.replaced


def test_hook_scores_only_the_primary_and_its_challenger():
    calls = []

    def prefer_longer(texts, context):  # a stand-in for an NMT/LM score: longer is better
        calls.append(list(texts))
        return [len(t) / 2 for t in texts]

    candidates = cands("see you", "see you soon", "see you there then", "see")
    result = Rescorer(hook=prefer_longer).rescore(candidates)
    assert calls == [["see you", "see you soon"]]  # challenger: the first of the tied non-primary candidates
    assert result.replaced and result.final.candidate.text == "see you soon"
    assert result.scores[2].hook is None and result.scores[0].hook == 3.5 and result.delta == 2.5


def test_merge_candidates_keeps_the_primary_first_and_drops_duplicates():
    merged = merge_candidates(cands("a b", "a  b", "c"),
                              [Candidate("c", "second_pass", 0), Candidate("d", "second_pass", 1)])
    assert [(c.text, c.source) for c in merged] == [("a b", "primary"), ("c", "nbest"), ("d", "second_pass")]


# ---------------------------------------------------------------- S1: conversation state and prompts


def test_recent_keyword_extraction():
    lines = ["My daughter watches Ponyo every weekend.", "这个问题你先Google一下。",
             "We use the GPU cluster on Monday. Then I left."]
    assert extract_recent_keywords(lines, 10) == ["GPU", "Monday", "Google", "Ponyo"]
    assert extract_recent_keywords(lines, 2) == ["GPU", "Monday"]


@pytest.fixture(scope="module")
def tokenizer():
    from whisper.tokenizer import get_tokenizer

    return get_tokenizer(multilingual=True)


def test_prompt_length_caps(tokenizer):
    keywords = [f"Keyword{i}" for i in range(60)]
    long_line = "这是一个很长的句子，" * 30
    for scene, plain, strong in (("offline", 600, 800), ("room", 500, 500)):
        state = ConversationState("s", keywords, scene=scene)
        for _ in range(5):
            state.commit(long_line, 0.9)
        default = state.prompt(duration_sec=5.0)
        assert not default.strengthened and len(default.prompt) <= plain
        assert len(default.build.keywords) <= 30 and len(default.build.recent_lines) <= 2
        assert default.build.keywords_truncated
        strengthened = state.prompt(duration_sec=1.0)
        assert strengthened.strengthened and strengthened.why_strengthened == "short_audio"
        assert len(strengthened.prompt) <= strong and len(strengthened.build.keywords) <= 40
    state = ConversationState("s", keywords, tokenizer=tokenizer)
    for _ in range(3):
        state.commit(long_line)
    choice = state.prompt(duration_sec=1.0)
    assert choice.build.tokens is not None and choice.build.tokens <= 223


def test_prompt_recent_lines_and_strengthening_after_a_poor_commit():
    state = ConversationState("s", ["Ponyo"], q_low=0.45)
    assert state.prompt(5.0).prompt == "Ponyo"
    for line in ("first line here", "second line here", "third line here"):
        state.commit(line, 0.9)
    assert state.prompt(5.0).prompt == "second line here third line here Ponyo"  # the last 2 lines
    state.commit("fourth line here", 0.2)
    choice = state.prompt(5.0)
    assert choice.why_strengthened == "low_quality_previous"
    assert choice.prompt == "second line here third line here fourth line here Ponyo"  # strong: 3 lines


def test_kill_switch_gives_no_prompt():
    state = ConversationState("s", ["Ponyo"], PromptOptions(enabled=False))
    state.commit("some text", 0.9)
    choice = state.prompt(1.0)
    assert choice.prompt is None and choice.fallback == "disabled"


# ---------------------------------------------------------------- audio cache and second pass


def ref(commit_id: str) -> AudioRef:
    return AudioRef("s", commit_id, 0, 1000, commit_id)


def test_ring_buffer_ttl_and_capacity():
    clock = ManualClock()
    cache = AudioRingBuffer(AudioCacheOptions(ttl_sec=10, max_seconds=2), clock)
    cache.put(ref("a"), np.zeros(16000, np.float32))
    clock.advance(5)
    assert cache.fetch("a").status == "ok" and cache.fetch("a").age_sec == 5
    clock.advance(5.5)
    assert cache.fetch("a").status == "expired" and len(cache) == 0
    assert cache.fetch("never").status == "missing"
    for key in ("b", "c", "d"):  # 3 s into a 2-s ring: the oldest goes
        cache.put(ref(key), np.zeros(16000, np.float32))
    assert [cache.fetch(k).status for k in ("b", "c", "d")] == ["missing", "ok", "ok"]
    assert cache.seconds == 2.0
    with pytest.raises(ValueError, match="exceeds"):
        cache.put(ref("e"), np.zeros(16000 * 3, np.float32))


@pytest.fixture(scope="module")
def tiny_model():
    from workbench.testing.dummies import tiny_whisper

    return tiny_whisper()


def test_second_pass_decodes_cached_audio_and_reports_an_expired_span(tiny_model):
    clock = ManualClock()
    cache = AudioRingBuffer(AudioCacheOptions(ttl_sec=10), clock)
    options = SecondPassOptions(beam_size=3, patience=1.0, n_best=2)
    second = SecondPass(whisper_second_pass(tiny_model, options, max_tokens_per_second=2), cache, options)
    tone = 0.3 * np.sin(2 * np.pi * 440 * np.arange(16000) / 16000).astype(np.float32)
    cache.put(ref("c1"), tone)
    decoded = second.request("c1", prompt="Ponyo", language="en")
    assert decoded.outcome == "decoded" and 1 <= len(decoded.candidates) <= 2
    assert {c.source for c in decoded.candidates} == {"second_pass"} and decoded.latency_ms > 0
    clock.advance(11)
    expired = second.request("c1", prompt="Ponyo", language="en")
    assert (expired.outcome, expired.candidates, expired.latency_ms) == ("audio_expired", (), 0.0)

    # the whole S2-B path with an expired span: no crash, the primary stays, the outcome is in the trace
    state = ConversationState("s", ["Ponyo"])
    task = RescoringTask(NeedRescore(OPEN), Rescorer(), ("second_pass",), second)
    hyps = [Hypothesis("see you at noon", [], -1.0, -0.2)]
    trace = task.process(Commit("c1", "see you at noon", 0.9, "s", "en", 0, ref("c1")), hyps, state)
    assert trace.decision.trigger and not trace.applied and trace.final_text == "see you at noon"
    assert trace.to_json()["second_pass"]["outcome"] == "audio_expired" and trace.to_json()["cand_count"] == 1


def _hyps(*texts):
    return [Hypothesis(t, [], -1.0, -0.1) for t in texts]


def test_second_pass_degrades_while_busy_on_the_stream_clock():
    stream, cpu = ManualClock(), ManualClock()
    cache = AudioRingBuffer(AudioCacheOptions(), stream)

    def five_second_decode(samples, prompt, language):
        cpu.advance(5.0)
        return _hyps("a conservative hypothesis")

    second = SecondPass(five_second_decode, cache, SecondPassOptions(), timer=cpu)
    for key in ("c1", "c2", "c3"):
        cache.put(ref(key), np.zeros(1600, np.float32))
    assert second.request("c1").outcome == "decoded"  # busy on [0, 5)
    stream.advance(1.0)
    assert second.request("c2").outcome == "overloaded"
    stream.advance(4.0)
    assert second.request("c3").outcome == "decoded"


def test_second_pass_concurrency_limit_with_threads():
    cache = AudioRingBuffer(AudioCacheOptions())
    cache.put(ref("c1"), np.zeros(1600, np.float32))
    cache.put(ref("c2"), np.zeros(1600, np.float32))
    started, release = threading.Event(), threading.Event()

    def slow_decode(samples, prompt, language):
        started.set()
        release.wait(10)
        return _hyps("done")

    second = SecondPass(slow_decode, cache, SecondPassOptions(max_concurrency=1))
    results = {}
    worker = threading.Thread(target=lambda: results.setdefault("first", second.request("c1")))
    worker.start()
    assert started.wait(10)
    results["second"] = second.request("c2")
    release.set()
    worker.join(10)
    assert results["first"].outcome == "decoded" and results["second"].outcome == "overloaded"
    assert second.request("c2").outcome == "decoded"  # free again


# ---------------------------------------------------------------- the task


def test_task_with_nbest_candidates_writes_the_result_fields():
    state = ConversationState("s", ["Ponyo"])
    task = RescoringTask(NeedRescore(OPEN), Rescorer(), ("nbest",), n_candidates=3)
    hyps = _hyps("my daughter watches pono", "my daughter watches Pono", "my daughter watches Ponyo", "watches Ponyo")
    commit = Commit("c1", hyps[0].text, quality_from_logprob(-0.1), "s", "en")
    trace = task.process(commit, hyps, state)
    record = trace.to_json()
    assert record["rescore_applied"] and record["final_text"] == "my daughter watches Ponyo"
    assert record["primary_text"] == "my daughter watches pono" and record["best_text"] == "my daughter watches Ponyo"
    assert record["cand_count"] == 3  # N = 3: the fourth hypothesis is not a candidate
    assert record["rescore_reason"] == ["short_text", "keyword_near_miss"]
    again = task.process(commit, hyps, state)  # the same commit again: decided already, nothing replaced
    assert not again.decision.trigger and not again.applied and again.final_text == hyps[0].text
