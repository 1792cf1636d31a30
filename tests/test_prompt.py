"""S1 prompt builder (seed 004 §4): limits, priority, de-duplication, verbatim terms, kill switch."""

import pytest

from workbench.asr.prompt import (
    STRONG_LIMITS,
    PromptBuilder,
    PromptLimits,
    check_prompt_tokens,
    count_prompt_tokens,
)


@pytest.fixture(scope="module")
def tokenizer():
    from whisper.tokenizer import get_tokenizer

    return get_tokenizer(multilingual=True)


def builder(**limits) -> PromptBuilder:
    return PromptBuilder(limits=PromptLimits(**limits))


def test_seed_defaults():
    limits = PromptLimits()
    assert (limits.max_chars, limits.max_keywords, limits.max_recent_lines, limits.max_tokens) == (600, 30, 2, 223)
    assert (STRONG_LIMITS.max_keywords, STRONG_LIMITS.max_recent_lines) == (40, 3)


def test_layout_is_lowest_priority_first_with_plain_separators():
    prompt = PromptBuilder().build(
        keywords=["iPhone", "KPI"], recent_lines=["今天讨论新品"], system_vocabulary=["GPU"],
        recent_keywords=["季度目标"],
    )
    assert prompt == "GPU 今天讨论新品 季度目标, iPhone, KPI"


def test_max_chars_skips_what_does_not_fit_and_keeps_filling():
    # "alpha, beta, gamma" is 18 chars; ", delta" would make 25 > 21; ", z" makes 21
    result = builder(max_chars=21).build_result(keywords=["alpha", "beta", "gamma", "delta", "z"])
    assert result.prompt == "alpha, beta, gamma, z"
    assert result.dropped_keywords == ("delta",)
    assert result.keywords_truncated and result.chars == 21


def test_max_keywords_counts_all_sources_in_priority_order():
    result = builder(max_keywords=3).build_result(keywords=["a", "b"], recent_keywords=["c", "d"],
                                                  system_vocabulary=["e"])
    assert result.keywords == ("a", "b", "c")
    assert result.dropped_keywords == ("d", "e")
    assert result.prompt == "c, a, b"


def test_max_recent_lines_keeps_the_most_recent():
    result = builder(max_recent_lines=2).build_result(recent_lines=["第一句话", "第二句话", "", "第三句话"])
    assert result.prompt == "第二句话 第三句话"
    assert not result.recent_truncated  # older lines are outside the window, not truncated


def test_long_line_keeps_its_end():
    result = builder(max_line_chars=10).build_result(recent_lines=["我们下周讨论新产品的发布计划"])
    assert result.prompt == "讨论新产品的发布计划"
    assert result.recent_truncated


def test_line_cut_does_not_leave_half_a_latin_word():
    # the last 12 chars are "y KPI review": the "y" of "quarterly" is dropped, not kept
    assert builder(max_line_chars=12).build(recent_lines=["the quarterly KPI review"]) == "KPI review"


def test_line_is_cut_to_the_remaining_budget_or_dropped_as_a_fragment():
    line = "我们下周讨论新产品的发布计划"  # 14 chars
    # 9 + 1 + 6 characters
    assert builder(max_chars=16).build(keywords=["iPhone"], recent_lines=[line]) == "论新产品的发布计划 iPhone"
    result = builder(max_chars=14).build_result(keywords=["iPhone"], recent_lines=[line])  # 7 chars left < 8
    assert result.prompt == "iPhone"
    assert result.recent_lines == () and result.recent_truncated


def test_newest_line_gets_the_budget_first():
    assert builder(max_chars=10).build(recent_lines=["旧的一句话内容", "新的一句话内容"]) == "新的一句话内容"


def test_priority_under_truncation():
    sources = dict(keywords=["AAAA"], recent_keywords=["BBBB"], system_vocabulary=["CCCC"])
    assert builder(max_chars=4).build(**sources) == "AAAA"
    assert builder(max_keywords=1).build(**sources) == "AAAA"
    assert builder(max_chars=8).build(recent_keywords=["BBBBBBBB"], recent_lines=["今天讨论新品发布"]) == "BBBBBBBB"
    prompt = builder(max_chars=10).build(recent_lines=["今天讨论新品发布"], system_vocabulary=["CCCC"])
    assert prompt == "今天讨论新品发布"


def test_dedup_is_case_and_width_insensitive_and_keeps_the_first_spelling():
    result = PromptBuilder().build_result(
        keywords=["iPhone", "KPI", " iphone "],
        recent_keywords=["IPHONE", "季度目标"],
        system_vocabulary=["kpi", "ＫＰＩ", "GPU", "季度目标"],
    )
    assert result.keywords == ("iPhone", "KPI", "季度目标", "GPU")
    assert result.prompt == "GPU 季度目标, iPhone, KPI"
    assert result.dropped_keywords == () and not result.keywords_truncated


def test_latin_terms_verbatim():
    prompt = PromptBuilder().build(keywords=["iPhone", "KPI", "macOS", "GPT-4o"], recent_lines=["用iPhone看KPI"])
    assert prompt == "用iPhone看KPI iPhone, KPI, macOS, GPT-4o"


def test_no_labels_or_language_instructions():
    for strengthen in (False, True):
        prompt = PromptBuilder().build(
            keywords=["张三"], recent_lines=["今天讨论新品"], system_vocabulary=["GPU"], strengthen=strengthen
        )
        assert prompt == "GPU 今天讨论新品 张三"
        for word in ("Keywords", "Recent", "CONTEXT", "language", "transcribe", "请用", "中文", "识别", "English"):
            assert word not in prompt


def test_strengthen_uses_more_keywords_and_lines():
    keywords = [f"k{i:02d}" for i in range(35)]
    lines = ["一", "二", "三"]
    normal = PromptBuilder().build_result(keywords=keywords, recent_lines=lines)
    strong = PromptBuilder().build_result(keywords=keywords, recent_lines=lines, strengthen=True)
    assert (len(normal.keywords), normal.recent_lines, normal.strengthened) == (30, ("二", "三"), False)
    assert (len(strong.keywords), strong.recent_lines, strong.strengthened) == (35, ("一", "二", "三"), True)


def test_kill_switch_returns_none():
    off = PromptBuilder(enabled=False)
    assert off.build(keywords=["iPhone"], recent_lines=["今天讨论新品"]) is None
    assert off.build(keywords="not validated when off") is None
    result = off.build_result(keywords=["iPhone"])
    assert (result.prompt, result.enabled, result.keywords, result.chars) == (None, False, (), 0)


def test_empty_inputs_give_none():
    assert PromptBuilder().build() is None
    result = PromptBuilder().build_result(keywords=["", "  "], recent_lines=["", "\n"], system_vocabulary=["\t"])
    assert (result.prompt, result.keywords, result.dropped_keywords, result.chars) == (None, (), (), 0)


def test_keyword_longer_than_the_budget_is_skipped_not_cut():
    result = builder(max_chars=10).build_result(keywords=["a very long keyword", "KPI"])
    assert result.prompt == "KPI"
    assert result.dropped_keywords == ("a very long keyword",)


def test_whitespace_inside_a_keyword_is_collapsed():
    assert PromptBuilder().build(keywords=["Apple  Vision\nPro"]) == "Apple Vision Pro"


@pytest.mark.parametrize(
    "limits, field",
    [
        ({"max_chars": 0}, "max_chars"),
        ({"max_keywords": -1}, "max_keywords"),
        ({"max_recent_lines": True}, "max_recent_lines"),
        ({"max_line_chars": 1.5}, "max_line_chars"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"min_cut_line_chars": 0}, "min_cut_line_chars"),
    ],
)
def test_invalid_limits_raise(limits, field):
    with pytest.raises(ValueError, match=rf"PromptLimits\.{field} must be a positive integer"):
        PromptLimits(**limits)


def test_invalid_builder_settings_raise():
    with pytest.raises(ValueError, match="min_cut_line_chars"):
        PromptLimits(max_line_chars=5, min_cut_line_chars=6)
    with pytest.raises(ValueError, match="keyword_separator"):
        PromptBuilder(keyword_separator=" ")
    with pytest.raises(TypeError, match="single string"):
        PromptBuilder().build(keywords="iPhone")
    with pytest.raises(TypeError, match="contain strings"):
        PromptBuilder().build(recent_lines=[None])


def test_check_prompt_tokens_rejects_empty_prompts(tokenizer):
    for prompt in ("", "   ", None):
        with pytest.raises(ValueError, match="empty"):
            check_prompt_tokens(prompt, tokenizer)


def test_check_prompt_tokens_counts_like_whisper(tokenizer):
    assert check_prompt_tokens("  iPhone KPI ", tokenizer) == len(tokenizer.encode(" iPhone KPI"))
    with pytest.raises(ValueError, match=r"prompt is \d+ tokens, over Whisper's 1"):
        check_prompt_tokens("iPhone KPI", tokenizer, max_tokens=1)


def test_check_prompt_tokens_rejects_over_long_prompt(tokenizer):
    prompt = "会议" * 150  # 300 CJK chars: half the seed's character budget, well over 223 tokens
    count = count_prompt_tokens(prompt, tokenizer)
    assert count > 223
    with pytest.raises(ValueError, match=rf"prompt is {count} tokens, over Whisper's 223"):
        check_prompt_tokens(prompt, tokenizer)


def test_build_with_tokenizer_keeps_whisper_window(tokenizer):
    keywords = [f"关键词{i}号" for i in range(30)]
    lines = ["上周的KPI还没有达标，我们需要讨论一下原因。", "今天讨论 iPhone 发布"]
    unbounded = PromptBuilder().build(keywords=keywords, recent_lines=lines)
    with pytest.raises(ValueError, match="over Whisper's 223"):  # the seed's 600 chars are not enough of a cap
        check_prompt_tokens(unbounded, tokenizer)
    result = PromptBuilder().build_result(keywords=keywords, recent_lines=lines, tokenizer=tokenizer)
    assert result.tokens == check_prompt_tokens(result.prompt, tokenizer) <= 223
    assert result.keywords == tuple(keywords[: len(result.keywords)])  # cut in priority order
    assert result.keywords_truncated
