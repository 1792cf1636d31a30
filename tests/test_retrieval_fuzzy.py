"""Fuzzy matching augmentation (seed 001 §2.2.2): deterministic, and every kind keeps its promise."""

import random
from collections import Counter

import pytest
from rapidfuzz.distance import DamerauLevenshtein

from workbench.retrieval.fuzzy import (
    KINDS,
    FuzzyConfig,
    FuzzyVariant,
    fuzzy_variants,
    make_variant,
    sample_training_text,
    script,
    word_rng,
)

WORDS = ["Tongyi", "Chromebook", "Andrei Tarkovsky", "Bose QuietComfort", "AI", "X", "通义千问", "通义", "Hà Nội",
         "Nguyễn", "C++"]
CONFIG = FuzzyConfig()


def check_variant(word: str, variant: FuzzyVariant, config: FuzzyConfig = CONFIG) -> None:
    text, kind = variant.text, variant.kind
    assert text.strip() and text != word, (word, variant)
    if kind == "suffix":
        assert text.startswith(word) and len(text) > len(word)
    elif kind == "prefix":
        assert text.endswith(word) and len(text) > len(word)
    elif kind == "partial":
        assert text in word and len(text) < len(word)
        if " " in word:
            assert text in word.split()  # one whole word of the phrase
        else:
            minimum = config.partial_min_cjk_chars if script(word) == "cjk" else config.partial_min_chars
            assert len(text) >= max(minimum, 0.6 * len(word))
            assert word.startswith(text) or word.endswith(text)
    elif kind == "edit":
        # drop/double are one Levenshtein edit, a swap one Damerau (transposition) edit
        assert DamerauLevenshtein.distance(word, text) == 1
    elif kind == "context":
        assert word in text and len(text) > len(word)
    else:
        pytest.fail(f"unexpected kind {kind!r}")


@pytest.mark.parametrize("word", WORDS)
def test_every_kind_keeps_its_invariant(word):
    for seed in range(40):
        for variant in fuzzy_variants(word, random.Random(seed), CONFIG):
            check_variant(word, variant)


def test_same_seed_same_variants_and_other_seeds_differ():
    runs = [[fuzzy_variants(w, word_rng(w, FuzzyConfig(seed=7)), CONFIG) for w in WORDS] for _ in range(2)]
    assert runs[0] == runs[1]
    other = [fuzzy_variants(w, word_rng(w, FuzzyConfig(seed=8)), CONFIG) for w in WORDS]
    assert other != runs[0]
    # per-word generators: a word's variants do not depend on which words came before it
    first = fuzzy_variants("Tongyi", word_rng("Tongyi", CONFIG), CONFIG)
    assert first == fuzzy_variants("Tongyi", word_rng("Tongyi", CONFIG), CONFIG)


def test_all_kinds_for_a_long_word_and_a_phrase():
    for word in ("Chromebook", "Andrei Tarkovsky", "通义千问", "Hà Nội"):
        assert [v.kind for v in fuzzy_variants(word, random.Random(0), CONFIG)] == list(KINDS)


def test_short_words_get_every_kind_but_partial():
    for word in ("AI", "通义", "X"):
        kinds = {v.kind for seed in range(20) for v in fuzzy_variants(word, random.Random(seed), CONFIG)}
        assert kinds == set(KINDS) - {"partial"}, word
    # one letter: the only edit that is not empty is a doubling
    assert {make_variant("X", "edit", random.Random(s), CONFIG).text for s in range(10)} == {"XX"}


def test_cjk_and_vietnamese_get_their_own_tokens_and_templates():
    variants = {v.kind: v.text for v in fuzzy_variants("通义千问", random.Random(3), CONFIG)}
    assert " " not in variants["suffix"] and " " not in variants["prefix"]  # no spaces inside CJK text
    assert variants["context"] in {t.replace("{word}", "通义千问") for t in CONFIG.cjk_templates}
    vietnamese = {v.kind: v.text for v in fuzzy_variants("Hà Nội", random.Random(3), CONFIG)}
    assert vietnamese["context"] in {t.replace("{word}", "Hà Nội") for t in CONFIG.vietnamese_templates}
    assert vietnamese["suffix"].split()[-1] in CONFIG.vietnamese_tokens
    assert script("Hà Nội") == "vietnamese" and script("通义") == "cjk" and script("Chromebook") == "latin"


def test_sample_training_text_mixes_exact_and_weighted_variants():
    rng = random.Random(0)
    samples = [sample_training_text("Chromebook", rng, CONFIG) for _ in range(2000)]
    counts = Counter(s.kind for s in samples)
    assert 0.45 < counts["exact"] / len(samples) < 0.55
    assert set(counts) == {"exact", *KINDS} and min(counts[k] for k in KINDS) > 100
    for sample in samples:
        if sample.kind == "exact":
            assert sample.text == "Chromebook"
        else:
            check_variant("Chromebook", sample)
    # deterministic in its generator
    first = [sample_training_text(w, random.Random(5), CONFIG) for w in WORDS]
    assert first == [sample_training_text(w, random.Random(5), CONFIG) for w in WORDS]


def test_weights_switch_kinds_off_and_impossible_kinds_fall_back():
    only_partial = FuzzyConfig(exact_probability=0.0, suffix_weight=0, prefix_weight=0, edit_weight=0, context_weight=0)
    assert {sample_training_text("Chromebook", random.Random(s), only_partial).kind for s in range(20)} == {"partial"}
    # "AI" has no partial: the exact word rather than a failure
    assert sample_training_text("AI", random.Random(0), only_partial) == FuzzyVariant("AI", "exact")
    never_exact = FuzzyConfig(exact_probability=0.0)
    assert all(sample_training_text(w, random.Random(1), never_exact).kind != "exact" for w in WORDS)


def test_bad_configs_and_words_are_refused():
    with pytest.raises(ValueError, match="slot"):
        FuzzyConfig(templates=("{word}",))
    with pytest.raises(ValueError, match="exact_probability"):
        FuzzyConfig(exact_probability=1.5)
    with pytest.raises(ValueError, match="empty"):
        fuzzy_variants("  ", random.Random(0), CONFIG)
