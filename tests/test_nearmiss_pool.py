"""Near-miss construction: POI detection, N-best segments, edit types, the gate, selection, stats."""

import pytest

from workbench.nearmiss.candidates import CandidateBuilder, edit_type, replace_span
from workbench.nearmiss.gate import GateConfig, Measurements, cross_script_distance, decide
from workbench.nearmiss.pool import NBestSource, PoolBuilder, PoolInput, pool_statistics, select
from workbench.text import build_normalizer
from workbench.text.phonetics import phoneme_distance
from workbench.text.poi import poi_spans

BUILDER = CandidateBuilder(build_normalizer())


@pytest.mark.parametrize(
    ("text", "language", "k", "expected"),
    [
        # cmn-eng: Latin tokens inside Mandarin, punctuation trimmed off the span
        ("我们明天开meeting讨论budget。", "zh", 0, [("meeting", "embedded"), ("budget", "embedded")]),
        # numbers are never POIs, even Latin-adjacent ones
        ("这个 iPhone 15 很贵", "zh", 0, [("iPhone", "embedded")]),
        # POI at sentence start and end
        ("Zoom会议之后发email", "zh", 0, [("Zoom", "embedded"), ("email", "embedded")]),
        # boundary neighbourhoods: ±1 token, CJK characters one token each
        ("我们开meeting讨论", "zh", 1, [("开meeting讨", "boundary"), ("meeting", "embedded")]),
        # two embedded spans whose neighbourhoods overlap merge into one boundary POI
        ("用 Excel 和 Word", "zh", 1, [("用 Excel 和 Word", "boundary"), ("Excel", "embedded"), ("Word", "embedded")]),
        # vie-eng: token-level LID (English words without Vietnamese syllable shape)
        ("Bác sĩ kê đơn insulin cho tôi.", "vi", 0, [("insulin", "embedded")]),
        ("Bác sĩ kê đơn insulin cho tôi.", "vi", 1, [("đơn insulin cho", "boundary"), ("insulin", "embedded")]),
        # a multi-word English span stays one POI
        ("Tôi dùng Google Maps mỗi ngày", "vi", 0, [("Google Maps", "embedded")]),
        # no LID rule for an English matrix, no marks: no POI
        ("the meeting is at noon", "en", 0, []),
        # explicit tags win
        ("call <tag Dr. Smith> at noon", "en", 0, [("Dr. Smith", "embedded")]),
    ],
)
def test_poi_detection_case_table(text, language, k, expected):
    _reference, pois = poi_spans(text, language, neighbourhood=k)
    assert [(p.text, p.category) for p in pois] == expected


def test_manifest_spans_define_pois():
    reference, pois = poi_spans("我们明天上午开meeting讨论一下budget。", "zh", spans=[(7, 14)])
    assert [p.text for p in pois] == ["meeting"]
    assert reference[pois[0].start : pois[0].end] == "meeting"


@pytest.mark.parametrize(
    ("poi", "replacement", "expected"),
    [
        (["meeting"], [], "del"),
        (["meeting"], ["meting"], "sub"),
        (["meeting"], ["the", "meeting"], "ins"),
        (["google", "maps"], ["google"], "del"),
        (["开", "meeting", "讨"], ["开", "米", "听", "讨"], "sub"),
    ],
)
def test_edit_types(poi, replacement, expected):
    assert edit_type(poi, replacement) == expected


def test_nbest_segments_follow_the_alignment():
    reference, pois = poi_spans("我们明天开meeting讨论budget。", "zh")
    # Whisper transliterates one POI, drops the other, and inserts a token next to the first
    segments = BUILDER.nbest_segments(reference, pois, "我们明天开米听讨论。")
    assert segments == ["米听", ""]
    assert BUILDER.nbest_segments(reference, pois, "我们明天开 meeting 讨论 budget") == ["meeting", "budget"]
    reference, pois = poi_spans("Bác sĩ kê đơn insulin cho tôi.", "vi")
    assert BUILDER.nbest_segments(reference, pois, "bác sĩ kê đơn in su lin cho tôi") == ["in su lin"]


def test_replacement_keeps_the_rest_of_the_reference():
    reference, pois = poi_spans("Bác sĩ kê đơn insulin cho tôi.", "vi")
    assert replace_span(reference, pois[0], "in su lin") == "Bác sĩ kê đơn in su lin cho tôi."
    assert replace_span(reference, pois[0], "") == "Bác sĩ kê đơn cho tôi."
    candidate = BUILDER.build(reference, pois, 0, "  in  su lin ", "llm")
    assert (candidate.replacement, candidate.edit, candidate.source) == ("in su lin", "sub", "llm")


@pytest.mark.parametrize(
    ("measured", "gate", "kept", "reason_part"),
    [
        (Measurements(0.1, 0.5, 0.3), GateConfig(), True, "kept"),
        (Measurements(0.9, 0.5, 0.3), GateConfig(), False, "acoustic_margin 0.900 > 0.5"),
        (Measurements(0.1, 0.1, 0.3), GateConfig(), False, "text_dist 0.100 < 0.2"),
        (Measurements(0.1, 0.5, 0.8), GateConfig(), False, "phone_dist 0.800 > 0.6"),
        # every failed level is named
        (Measurements(0.9, 0.1, 0.8), GateConfig(), False, "acoustic_margin 0.900 > 0.5; text_dist"),
        # switched-off levels do not count (seed 003 Table 3 rows)
        (Measurements(0.9, 0.1, 0.8), GateConfig(acoustic=False, phoneme=False, text=False), True, "kept"),
        (Measurements(0.1, 0.1, 0.8), GateConfig(phoneme=False, text=False), True, "kept"),
        # the model preferring the near-miss (negative margin) is the most plausible case
        (Measurements(-0.3, 0.5, 0.3), GateConfig(), True, "kept"),
    ],
)
def test_gate_levels(measured, gate, kept, reason_part):
    verdict, reason = decide(measured, gate)
    assert verdict is kept and reason_part in reason


def test_cross_script_distance_compares_pinyin_letters_with_latin():
    assert cross_script_distance("meeting", "米听") < cross_script_distance("meeting", "预算")
    assert cross_script_distance("meeting", "meting") is None  # same script: the phoneme path decides


def _item(reference="我们明天开meeting讨论budget。", hyps=("我们明天开米听讨论budget", "我们明天开meeting讨论巴基特")):
    reference, pois = poi_spans(reference, "zh")
    segments = tuple(tuple(BUILDER.nbest_segments(reference, pois, h)) for h in hyps)
    return PoolInput("u1", reference, "zh", "en", tuple(pois), tuple(hyps), segments)


def test_pool_measures_gates_and_selects():
    item = _item()
    pools = PoolBuilder(BUILDER, [NBestSource()], GateConfig(), phoneme_distance, max_candidates=10, negatives=1)
    # acoustic scores by hand: the reference scores -0.2, "米听" -0.3 (margin 0.1), "巴基特" -1.5 (margin 1.3)
    scores = {"我们明天开米听讨论budget。": -0.3, "我们明天开meeting讨论巴基特。": -1.5}
    pool = pools.build(item, lambda texts: [-0.2] + [scores[t] for t in texts[1:]])
    by_text = {n.candidate.text: n for n in pool.negatives}
    assert set(by_text) == set(scores)
    assert pool.same_as_reference == 2  # each hypothesis also gives back one POI unchanged
    mi_ting = by_text["我们明天开米听讨论budget。"]
    assert mi_ting.kept and mi_ting.measured.acoustic_margin == pytest.approx(0.1) and mi_ting.selected
    ba_ji_te = by_text["我们明天开meeting讨论巴基特。"]
    assert not ba_ji_te.kept and "acoustic_margin" in ba_ji_te.reason and not ba_ji_te.selected
    record = pool.to_json()
    assert record["negatives"][0]["source"] == "nbest" and record["reference_score"] == -0.2
    stats = pool_statistics([record], GateConfig(), negatives=4)
    assert stats["gates"]["none"]["kept"] == 2 and stats["gates"]["acoustic"]["kept"] == 1
    assert stats["gates"]["none"]["nm_per_utt"] == 2.0 and stats["candidates"] == {"nbest": 2}


def test_utterance_without_poi_is_kept_and_counted():
    reference, pois = poi_spans("今天天气很好", "zh")
    item = PoolInput("u2", reference, "zh", "en", tuple(pois), ("今天天气很好",), ((),))
    pool = PoolBuilder(BUILDER, [NBestSource()], GateConfig(), phoneme_distance).build(item, None)
    stats = pool_statistics([pool.to_json()], GateConfig(), 4)
    assert stats["utterances_without_poi"] == 1 and stats["candidates_total"] == 0


def test_selection_spreads_over_categories_and_edit_types():
    reference, pois = poi_spans("我们开meeting讨论", "zh", neighbourhood=1)
    gate = GateConfig(acoustic=False, phoneme=False, text=False)
    pools = PoolBuilder(BUILDER, [], gate, phoneme_distance, negatives=2)
    from workbench.nearmiss.pool import ScoredNegative

    negatives = []
    for index, replacement, margin in [(1, "米听", 0.3), (1, "meting", 0.1), (1, "", 0.2), (0, "开米听讨", 0.4)]:
        candidate = BUILDER.build(reference, pois, index, replacement, "nbest")
        negatives.append(ScoredNegative(candidate, Measurements(margin, 0.5, 0.3), True, "kept"))
    chosen = select(negatives, pois, 2)
    # buckets sorted: (boundary, sub), (embedded, del), (embedded, sub): one from each first
    assert [n.candidate.replacement for n in chosen] == ["开米听讨", ""]
    assert [n.candidate.replacement for n in select(negatives, pois, 4)] == ["开米听讨", "", "meting", "米听"]
    assert pools.negatives == 2
