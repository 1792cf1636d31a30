"""Hotword lists (workbench.text.hotwords) and distractor vocabularies of workbench.retrieval.vocabulary (offline)."""

from __future__ import annotations

import re

import pytest

from conftest import REPO
from workbench.metrics.retrieval import _key as metrics_key
from workbench.retrieval.vocabulary import (
    VocabularyError,
    build_vocabulary,
    check_unique,
    english_words,
    hotword_key,
    mandarin_phrases,
)
from workbench.text.hotwords import read_hotword_list, read_hotword_lists

MANIFESTS = REPO / "data_manifests" / "default"


# --- hotword lists ------------------------------------------------------------------------------


def test_read_hotwords_strips_and_skips_blank_and_comment_lines(tmp_path):
    path = tmp_path / "hotwords.txt"
    path.write_text("# drugs\n\n  Abilify \nWegovy\r\n   \n# brands\nBose QuietComfort\n", encoding="utf-8")
    assert read_hotword_list(path) == ("Abilify", "Wegovy", "Bose QuietComfort")


def test_whitespace_is_collapsed_and_exact_repeats_collapse_in_first_seen_order(tmp_path):
    path = tmp_path / "hotwords.txt"
    path.write_text("\ufeffBose \t QuietComfort\nAbilify\n  Bose QuietComfort  \n# again\nAbilify\n", encoding="utf-8")
    assert read_hotword_lists([path]).phrases == ("Bose QuietComfort", "Abilify")
    assert read_hotword_lists([path]).duplicates == 2


def test_rule_applies_across_lists(tmp_path):
    first, second = tmp_path / "a.txt", tmp_path / "b.txt"
    first.write_text("Tuesday\nZorbulaxin\n", encoding="utf-8")
    second.write_text("Wegovy\nTuesday\n", encoding="utf-8")
    assert read_hotword_lists([first, second]).phrases == ("Tuesday", "Zorbulaxin", "Wegovy")
    assert read_hotword_lists([first, second]).duplicates == 1
    second.write_text("Wegovy\nTUESDAY\n", encoding="utf-8")
    with pytest.raises(VocabularyError, match=rf"{re.escape(str(second))}:2: .*same as {re.escape(str(first))}:1"):
        read_hotword_lists([first, second])


def test_duplicate_by_key_names_file_and_both_lines(tmp_path):
    path = tmp_path / "hotwords.txt"
    path.write_text("Bose QuietComfort\nAbilify\n\nbose   quietcomfort\n", encoding="utf-8")
    with pytest.raises(VocabularyError, match=rf"{re.escape(str(path))}:4: .*same as line 1"):
        read_hotword_list(path)


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n  \n"])
def test_list_without_phrases_is_an_error_naming_the_file(tmp_path, text):
    path = tmp_path / "empty.txt"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(VocabularyError, match=re.escape(str(path))):
        read_hotword_list(path)


def test_undecodable_bytes_name_file_and_line(tmp_path):
    path = tmp_path / "latin1.txt"
    path.write_bytes("Abilify\nCafé\n".encode("latin-1"))
    with pytest.raises(VocabularyError, match=rf"{re.escape(str(path))}:2: not UTF-8"):
        read_hotword_list(path)


def test_key_is_the_metrics_matching_rule():
    for text in ("Bose  QuietComfort", " STRASSE\t straße ", "巴基特", "ǅemal"):
        assert hotword_key(text) == metrics_key(text)


def test_project_hotword_lists_read_cleanly():
    assert len(read_hotword_list(MANIFESTS / "en_hotwords.txt")) == 164
    assert len(read_hotword_list(MANIFESTS / "en_distractors.txt")) == 300
    assert len(read_hotword_list(MANIFESTS / "cmn_eng_hotwords.txt")) == 130


def test_check_unique_names_both_entries():
    with pytest.raises(VocabularyError, match=r"entry 2 'apple' duplicates entry 0 'Apple'"):
        check_unique(["Apple", "Excel", "apple"])
    with pytest.raises(VocabularyError, match="entry 1 is blank"):
        check_unique(["Apple", "  "])


# --- distractor sources -------------------------------------------------------------------------


def test_english_words_are_plain_cmudict_words():
    words = english_words()
    assert len(words) > 110_000
    assert len(set(words)) == len(words)
    assert all(w.isascii() and w.isalpha() and w.islower() and len(w) >= 3 for w in words)
    assert "tomato" in words and "a" not in words
    assert english_words(5) == words[:5]


def test_mandarin_phrases_are_two_to_four_han_characters():
    phrases = mandarin_phrases()
    assert len(phrases) > 40_000
    assert all(2 <= len(p) <= 4 and re.fullmatch(r"[\u3400-\u9fff\uf900-\ufaff]+", p) for p in phrases)
    assert "银行" in phrases


# --- vocabularies -------------------------------------------------------------------------------


def test_gold_then_extra_then_distractors_without_key_duplicates():
    vocabulary = build_vocabulary(["Wegovy", "Apple", "wegovy"], 50, extra=["Advair", "APPLE", "Aduhelm"])
    assert vocabulary.words[:4] == ("Wegovy", "Apple", "Advair", "Aduhelm")
    assert (vocabulary.gold_count, vocabulary.extra_count, vocabulary.size) == (2, 2, 50)
    assert vocabulary.gold == ("Wegovy", "Apple")
    check_unique(vocabulary.words)  # "apple" from CMUdict can never come back as a distractor


def test_size_none_is_gold_and_extra_only():
    vocabulary = build_vocabulary(["Wegovy"], None, extra=["Advair"])
    assert vocabulary.words == ("Wegovy", "Advair")


def test_size_below_gold_plus_extra_says_the_minimum():
    with pytest.raises(VocabularyError, match=r"below the minimum 3 \(2 gold \+ 1 extra\)"):
        build_vocabulary(["Wegovy", "Apple"], 2, extra=["Advair"])


def test_sample_is_seeded_and_smaller_sizes_are_prefixes():
    gold = ["Wegovy", "Apple"]
    small, large = build_vocabulary(gold, 1_000, seed=3), build_vocabulary(gold, 5_000, seed=3)
    assert build_vocabulary(gold, 1_000, seed=3) == small
    assert large.words[:1_000] == small.words
    assert build_vocabulary(gold, 1_000, seed=4).words != small.words


@pytest.mark.parametrize("sources", [("en",), ("en", "zh")])
def test_100k_is_reachable_without_key_duplicates(sources):
    gold = read_hotword_list(MANIFESTS / "en_hotwords.txt")
    extra = read_hotword_list(MANIFESTS / "en_distractors.txt")
    vocabulary = build_vocabulary(gold, 100_000, sources=sources, extra=extra)
    assert vocabulary.size == 100_000 and vocabulary.words[: len(gold)] == tuple(gold)
    assert len({hotword_key(w) for w in vocabulary.words}) == 100_000
    if "zh" in sources:
        assert any(re.match(r"[\u4e00-\u9fff]", w) for w in vocabulary.words)


def test_too_large_or_unknown_sources_say_what_is_possible():
    with pytest.raises(VocabularyError, match=r"hold only .*largest possible size: 117251"):
        build_vocabulary(["Wegovy"], 200_000)
    with pytest.raises(VocabularyError, match=r"unknown distractor source\(s\) \['fr'\]"):
        build_vocabulary(["Wegovy"], 10, sources=("fr",))
    with pytest.raises(VocabularyError, match="gold entry 1 is blank"):
        build_vocabulary(["Wegovy", " "], None)
