"""The phonetic baseline retriever of workbench.retrieval.phonetic (offline)."""

from __future__ import annotations

import itertools
import random

import numpy as np
import pytest
from rapidfuzz import fuzz

from conftest import REPO
from workbench.retrieval.phonetic import PhoneticRetriever, pronunciation
from workbench.retrieval.vocabulary import VocabularyError
from workbench.text.hotwords import read_hotword_list

DISTRACTORS = read_hotword_list(REPO / "data_manifests" / "default" / "en_distractors.txt")


@pytest.fixture(scope="module")
def retriever():
    return PhoneticRetriever(["tamsulosin", *DISTRACTORS])


def test_misrecognized_hotword_ranks_first_among_the_project_distractors(retriever):
    ranked = retriever.rank(["he takes tam sue low sin for his prostate"], 3)
    assert ranked[0][0] == "tamsulosin"


def test_misrecognized_hotword_stays_near_the_top_beside_chance_matches(retriever):
    # Not first: the baseline's known weakness is short hotwords matching by chance, here
    # "Grainne" (G R EY N) 3 of 4 units of "grandfather" (G R AE N ...): 0.75, above
    # tamsulosin's 2·7/(11 + 11) = 0.64 against "tam sue low sin".
    hypothesis = "my grandfather takes tam sue low sin before bed"
    assert "tamsulosin" in retriever.rank([hypothesis], 2)[0]
    scores = retriever.score([hypothesis])[0]
    assert scores[0] > np.quantile(scores, 0.95)


def test_exact_hit_scores_one_and_empty_hypothesis_scores_zero(retriever):
    scores = retriever.score(["my grandfather takes tamsulosin before bed", "", "   "])
    assert scores.shape == (3, len(retriever)) and scores.dtype == np.float32
    assert scores[0, 0] == 1.0 and retriever.rank(["takes tamsulosin daily"], 1) == [["tamsulosin"]]
    assert not scores[1:].any()
    assert 0.0 <= scores.min() and scores.max() <= 1.0


def test_hotword_longer_than_the_hypothesis_is_compared_with_all_of_it():
    retriever = PhoneticRetriever(["1 2 3 4 5 6", "3 4"])  # spaced digits: one unit each
    # "3 4" lies inside the longer hotword (plain partial_ratio: 1.0), but the window is the
    # whole hypothesis: 2·2/(6 + 2)
    assert retriever.score(["3 4"])[0].tolist() == pytest.approx([4 / 8, 1.0])
    assert fuzz.partial_ratio("123456", "34") == 100


def test_mandarin_homophone_ranks_the_hotword_first():
    retriever = PhoneticRetriever(["巴基特", "北京", "阿里巴巴", "特别", "基金", "Apple"])
    hypothesis = "我昨天见了八基特先生"  # 八 ba1 for 巴 ba1: same syllables
    assert retriever.rank([hypothesis], 2, language_hints=["zh"])[0][0] == "巴基特"
    assert retriever.score([hypothesis], ["zh"])[0, 0] == 1.0
    assert retriever.score(["我昨天见了八吉特先生"], ["zh"])[0, 0] == pytest.approx(2 / 3)  # ji2 for ji1


def test_symbol_only_text_falls_back_to_its_characters():
    assert pronunciation("#") == ("#",)
    assert pronunciation("42") == ("42",)  # digit runs already have a unit
    retriever = PhoneticRetriever(["C#", "#", "Excel"])
    assert retriever.score(["#"])[0].tolist() == [0.0, 1.0, 0.0]


def _sim(x, y):
    """2·LCS / (|x| + |y|) by dynamic programming."""
    table = np.zeros((len(x) + 1, len(y) + 1), dtype=int)
    for i, j in itertools.product(range(len(x)), range(len(y))):
        table[i + 1, j + 1] = table[i, j] + 1 if x[i] == y[j] else max(table[i, j + 1], table[i + 1, j])
    return 2 * table[-1, -1] / (len(x) + len(y))


def _windows(text, m):
    """Every m-unit substring plus the shorter prefixes and suffixes."""
    n = len(text)
    full = [text[i : i + m] for i in range(n - m + 1)]
    return full + [text[:j] for j in range(1, m)] + [text[n - j :] for j in range(1, m)]


def _reference(p, h):
    if not h:
        return 0.0
    if len(p) > len(h):
        return _sim(p, h)
    best = max(_sim(p, w) for w in _windows(h, len(p)))
    if len(p) == len(h):
        best = max(best, max(_sim(h, w) for w in _windows(p, len(h))))
    return best


def test_score_is_the_documented_sliding_window_definition():
    # space-separated digits are one unit each, so random unit strings can be written as text
    rng = random.Random(0)
    hotwords = list(dict.fromkeys(" ".join(rng.choices("123456", k=rng.randint(1, 8))) for _ in range(60)))
    hypotheses = [" ".join(rng.choices("1234567", k=rng.randint(0, 12))) for _ in range(30)]
    assert pronunciation("1 22 3") == ("1", "22", "3")
    expected = [[_reference(w.split(), h.split()) for w in hotwords] for h in hypotheses]
    assert PhoneticRetriever(hotwords).score(hypotheses) == pytest.approx(np.array(expected), abs=1e-6)


def test_errors_name_the_problem():
    with pytest.raises(VocabularyError, match="duplicates entry 0"):
        PhoneticRetriever(["Apple", "apple"])
    with pytest.raises(VocabularyError, match="at least one hotword"):
        PhoneticRetriever([])
    with pytest.raises(ValueError, match="2 hypotheses but 1 language hints"):
        PhoneticRetriever(["Apple"]).score(["a", "b"], ["en"])


def test_ties_do_not_depend_on_vocabulary_position():
    # gold hotwords come first in a vocabulary: winning ties by position would inflate recall
    words = ["knight", "Apple", "night", "Excel", "nite", "grapple"]
    hypothesis = ["good night"]
    forward = PhoneticRetriever(words)
    assert forward.score(hypothesis)[0].tolist().count(1.0) == 3  # N AY T three times: a tie
    ranked = forward.rank(hypothesis, 6)
    assert sorted(ranked[0][:3]) == ["knight", "night", "nite"]
    assert PhoneticRetriever(words[::-1]).rank(hypothesis, 6) == ranked


def test_rank_returns_at_most_the_vocabulary():
    assert PhoneticRetriever(["Apple", "Excel"]).rank(["apple pie"], 10) == [["Apple", "Excel"]]
