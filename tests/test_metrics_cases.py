"""Hand-checked case tables for every metric (expected values worked out by hand in comments)."""

import math

import numpy as np
import pytest

from workbench.metrics.alignment import align
from workbench.metrics.bias import bias_counts, find_occurrences
from workbench.metrics.keywords import count_occurrences, digit_counts, keyword_counts, sentence_accuracy
from workbench.metrics.pier import corpus_pier, pier_counts
from workbench.metrics.rescoring import CommitOutcome, rescoring_rates
from workbench.metrics.retrieval import ranking_recall_at_k, retrieval_at_k
from workbench.metrics.scorer import Reference, Scorer
from workbench.text import build_normalizer
from workbench.text.poi import tag_pois, widen

T = str.split  # tokens from a space-separated string


# ---------------------------------------------------------------- alignment edge cases
@pytest.mark.parametrize(
    ("ref", "hyp", "counts"),  # counts = (hits, sub, del, ins)
    [
        ("a b c", "", (0, 0, 3, 0)),  # empty hypothesis: all deletions
        ("", "x y", (0, 0, 0, 2)),  # empty reference: all insertions
        ("", "", (0, 0, 0, 0)),
        ("a b", "x a y b z", (2, 0, 0, 3)),  # all-insertion around hits
        ("a b c d", "a x c", (2, 1, 1, 0)),
    ],
)
def test_alignment_counts(ref, hyp, counts):
    a = align(T(ref), T(hyp))
    assert (a.hits, a.substitutions, a.deletions, a.insertions) == counts


def test_empty_reference_rate_is_defined():
    assert align([], []).rate() == 0.0
    assert align([], ["x"]).rate() == math.inf


# ---------------------------------------------------------------- PIER
@pytest.mark.parametrize(
    ("ref", "poi", "hyp", "expected"),  # expected = (poi_tokens, poi_errors, other_tokens, other_errors)
    [
        # meeting -> 米 (S on POI) + 听 inserted next to it; budget -> 巴 (S) + 基特 inserted after it: 5 POI errors
        ("我 们 开 meeting 讨 论 budget", [0, 0, 0, 1, 0, 0, 1], "我 们 开 米 听 讨 论 巴 基 特", (2, 5, 5, 0)),
        # POI at sentence start, deleted; insertion at the very end next to a non-POI
        ("meeting 开 始 了", [1, 0, 0, 0], "开 始 了 吧", (1, 1, 3, 1)),
        # POI at sentence end, substituted; a non-POI deletion elsewhere
        ("我 们 用 excel", [0, 0, 0, 1], "我 用 xl", (1, 1, 3, 1)),
        # insertion between two non-POIs is non-POI even when a POI is two tokens away
        ("a b c d", [1, 0, 0, 0], "a b x c d", (1, 0, 3, 1)),
        # perfect hypothesis
        ("a b", [0, 1], "a b", (1, 0, 1, 0)),
        # empty hypothesis: every token deleted
        ("a b c", [0, 1, 1], "", (2, 2, 1, 1)),
    ],
)
def test_pier_case_table(ref, poi, hyp, expected):
    counts = pier_counts(align(T(ref), T(hyp)), [bool(p) for p in poi])
    assert (counts.poi_tokens, counts.poi_errors, counts.other_tokens, counts.other_errors) == expected


def test_pier_reports_excluded_utterances():
    with_poi = pier_counts(align(T("a b"), T("a x")), [False, True])
    without = pier_counts(align(T("a b"), T("a b c")), [False, False])
    result = corpus_pier([with_poi, without])
    assert (result.pier, result.utterances, result.excluded_no_poi) == (1.0, 2, 1)
    assert math.isnan(corpus_pier([without]).pier)


def test_pier_where_the_reference_implementation_reports_zero():
    """Both POI words lost: PIER must be large, not 0 (the reference implementation's Mandarin mode says 0)."""
    scorer = Scorer()
    score = scorer.score(Reference("u", "我们明天开 meeting 讨论 budget", "zh"), "我们明天开米听讨论巴基特")
    assert score.poi_source == "lid"
    assert (score.pier.poi_tokens, score.pier.poi_errors) == (2, 5)  # 2 S + 3 adjacent I
    assert score.pier.pier == 2.5


@pytest.mark.parametrize(
    ("text", "language", "pois"),
    [
        ("我们开meeting讨论budget", "zh", ["meeting", "budget"]),  # no spaces around Latin
        ("我们开 meeting 讨论 budget", "zh", ["meeting", "budget"]),  # spaces
        ("Zoom会议改到三点", "zh", ["zoom"]),  # POI at sentence start
        ("明天提交report", "zh", ["report"]),  # POI at sentence end
        ("Bệnh nhân cần tiêm insulin ngay.", "vi", ["insulin"]),
        ("Kết quả CT scan bình thường.", "vi", ["ct", "scan"]),
        ("Hast du das <tag File> <tag gedownloadet>?", "de", ["file", "gedownloadet"]),
        ("The doctor prescribed Xarelto.", "en", []),  # no LID rule for English matrix: no POI
    ],
)
def test_poi_detection(text, language, pois):
    tagged = tag_pois(text, language, build_normalizer())
    assert [t for t, p in zip(tagged.tokens, tagged.poi) if p] == pois


def test_poi_from_manifest_spans_and_neighbourhood():
    tagged = tag_pois("我们开meeting讨论", "zh", build_normalizer(), spans=[(3, 10)], neighbourhood=1)
    assert tagged.source == "spans"
    assert [t for t, p in zip(tagged.tokens, tagged.poi) if p] == ["开", "meeting", "讨"]
    assert widen([False, True, True, False, False], 2) == [True, True, True, True, True]
    assert widen([True, False, False], 1) == [True, True, False]


# ---------------------------------------------------------------- B-WER / U-WER
def test_bias_phrase_twice_and_overlapping():
    # "new york" twice; "york city" overlaps the second: leftmost-longest takes "new york" at 4
    ref = T("i love new york and new york city")
    occurrences = find_occurrences(ref, [T("new york"), T("york city"), T("new york city")])
    assert occurrences == [(2, 4), (5, 8)]  # the longer "new york city" wins at position 5


def test_bias_counts_case():
    # ref: the [xarelto] pill ; hyp: the sorel toe pill -> S(xarelto->sorel) + I(toe) next to it
    a = align(T("the xarelto pill"), T("the sorel toe pill"))
    counts = bias_counts(a, [T("xarelto")])
    # bias: 1 token, 1 error (the substitution); the inserted "toe" forms no bias phrase -> U
    assert (counts.bias_tokens, counts.bias_errors, counts.other_tokens, counts.other_errors) == (1, 1, 2, 1)


def test_inserted_bias_phrase_counts_to_b():
    a = align(T("take the pill"), T("take the xarelto pill"))
    counts = bias_counts(a, [T("xarelto")])
    assert (counts.bias_tokens, counts.bias_errors, counts.other_errors) == (0, 1, 0)
    assert math.isnan(counts.b_rate)


def test_bias_phrase_appearing_twice_with_one_error():
    a = align(T("ozempic now ozempic later"), T("ozempic now ozempik later"))
    counts = bias_counts(a, [T("ozempic")])
    assert (counts.occurrences, counts.bias_tokens, counts.bias_errors, counts.other_errors) == (2, 2, 1, 0)


def test_u_cer_on_characters():
    scorer = Scorer()
    score = scorer.score(Reference("u", "请打开微信", "zh", ("微信",)), "请打开威信")
    # characters: 请打开微信 -> 请打开威信; bias chars 微信 (2), one substitution (微->威)
    assert (score.bias_char.bias_tokens, score.bias_char.bias_errors) == (2, 1)
    assert (score.bias_char.other_tokens, score.bias_char.other_errors) == (3, 0)


# ---------------------------------------------------------------- KER, SACC, digits
def test_keyword_error_rate_cases():
    hyp = T("my doctor switched me from lipitor to crest or")
    counts = keyword_counts(hyp, [T("lipitor"), T("crestor")])
    assert (counts.keywords, counts.missing) == (2, 1)
    # a keyword annotated twice must occur twice
    assert keyword_counts(T("ozempic and more"), [T("ozempic"), T("ozempic")]).missing == 1
    assert keyword_counts([], [T("x")]).missing == 1
    assert count_occurrences(T("a b a b a"), T("a b")) == 2


def test_sacc_and_digits():
    alignments = [align(T("a b"), T("a b")), align(T("a b"), T("a c")), align([], [])]
    assert sentence_accuracy(alignments) == pytest.approx(2 / 3)
    digits = digit_counts(align(T("call 911 at 3 pm"), T("call 9 11 at 3 pm")))
    assert (digits.digit_tokens, digits.digit_errors) == (2, 1)


def test_scorer_corpus_metrics():
    scorer = Scorer()
    corpus = scorer.score_corpus([
        (Reference("1", "My doctor prescribed Xarelto.", "en", ("Xarelto",)), "my doctor prescribed sorel toe"),
        (Reference("2", "We watched Oppenheimer.", "en", ("Oppenheimer",)), "We watched Oppenheimer!"),
    ])
    m = corpus.as_metrics()
    assert m["wer"] == pytest.approx(2 / 7)  # S + I over 7 words
    assert m["ker"] == 0.5 and m["sacc"] == 0.5
    assert m["b_wer"] == 0.5 and m["u_wer"] == pytest.approx(1 / 5)
    assert m["pier_excluded_utterances"] == 2.0 and math.isnan(m["pier"])


# ---------------------------------------------------------------- retrieval
def test_recall_precision_f1_at_k():
    gold = [["qwen"], ["Xarelto", "Ozempic"]]
    ranked = [["qwen2.5", "llama"], ["Ozempic", "Xeljanz", "Xarelto"]]
    exact1 = retrieval_at_k(gold, ranked, 1, "exact")
    assert (exact1.recalled, exact1.gold, exact1.correct_retrieved, exact1.retrieved) == (1, 3, 1, 2)
    sub1 = retrieval_at_k(gold, ranked, 1, "substring")
    assert sub1.recall == pytest.approx(2 / 3) and sub1.precision == 1.0
    assert sub1.f1 == pytest.approx(2 * (2 / 3) / (1 + 2 / 3))
    exact3 = retrieval_at_k(gold, ranked, 3, "exact")
    assert exact3.recall == pytest.approx(2 / 3) and exact3.precision == pytest.approx(2 / 5)
    with pytest.raises(ValueError, match="exact' or 'substring"):
        retrieval_at_k(gold, ranked, 1, "fuzzy")


def test_ranking_recall_q_to_c_and_c_to_q():
    scores = np.array([[0.9, 0.1, 0.5], [0.2, 0.3, 0.8]])
    assert ranking_recall_at_k(scores, [[0], [1]], ks=(1, 2)) == {1: 0.5, 2: 1.0}
    # C->Q: candidates 0, 1 rank their own query first; candidate 2 belongs to query 0 but ranks query 1 first
    assert ranking_recall_at_k(scores.T, [[0], [1], [0]], ks=(1, 2)) == {1: pytest.approx(2 / 3), 2: 1.0}


# ---------------------------------------------------------------- rescoring rates
def test_rescoring_rates():
    outcomes = [
        CommitOutcome(False, False, 1, 1),
        CommitOutcome(True, True, 3, 1, 120.0),  # win
        CommitOutcome(True, True, 1, 2, 80.0),  # loss
        CommitOutcome(True, False, 2, 2, 100.0),  # triggered, kept primary
    ]
    r = rescoring_rates(outcomes)
    assert (r.trigger_rate, r.win_rate, r.loss_rate, r.replaced) == (0.75, pytest.approx(1 / 3),
                                                                     pytest.approx(1 / 3), 2)
    assert (r.latency_p50_ms, r.latency_p95_ms) == (100.0, pytest.approx(118.0))
    assert math.isnan(rescoring_rates([]).trigger_rate)
