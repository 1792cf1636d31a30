"""The FAISS hotword index (workbench.retrieval.index) and ranking helpers (workbench.retrieval.ranking)."""

from __future__ import annotations

import numpy as np
import pytest

from workbench.retrieval.index import HotwordIndex
from workbench.retrieval.ranking import fuse, ranked_words, top_k
from workbench.retrieval.vocabulary import VocabularyError


def _normalized(x):
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    embeddings = rng.normal(size=(500, 32)).astype(np.float32) * rng.uniform(0.1, 10, size=(500, 1))
    queries = rng.normal(size=(7, 32)).astype(np.float32)
    return embeddings, queries, [f"word{i}" for i in range(500)]


# --- HotwordIndex -------------------------------------------------------------------------------


def test_search_matches_numpy_brute_force_cosine(data):
    embeddings, queries, words = data
    index = HotwordIndex(embeddings, words)
    scores, indices = index.search(queries, 10)
    cosine = _normalized(queries) @ _normalized(embeddings).T
    expected = np.argsort(-cosine, axis=1)[:, :10]
    assert indices.shape == scores.shape == (7, 10)
    np.testing.assert_array_equal(indices, expected)
    np.testing.assert_allclose(scores, np.take_along_axis(cosine, expected, axis=1), atol=1e-5)
    assert index.ranked_words(queries, 3) == [[words[i] for i in row[:3]] for row in expected]
    np.testing.assert_array_equal(index.top_candidates(queries, 50), np.argsort(-cosine, axis=1)[:, :50])


def test_input_is_copied_not_normalized_in_place(data):
    embeddings, queries, words = data
    before = embeddings.copy(), queries.copy()
    HotwordIndex(embeddings, words).search(queries, 3)
    np.testing.assert_array_equal(embeddings, before[0])
    np.testing.assert_array_equal(queries, before[1])


def test_k_above_the_vocabulary_returns_every_word_once(data):
    embeddings, queries, words = data
    index = HotwordIndex(embeddings[:4], words[:4])
    _, indices = index.search(queries, 100)
    assert indices.shape == (7, 4) and (np.sort(indices, axis=1) == np.arange(4)).all()
    assert len(index.ranked_words(queries[:1], 100)[0]) == 4


def test_zero_query_scores_zero(data):
    embeddings, _, words = data
    scores, _ = HotwordIndex(embeddings, words).search(np.zeros((1, 32), np.float32), 5)
    assert not scores.any()


def test_bad_input_is_a_clear_error(data):
    embeddings, queries, words = data
    with pytest.raises(ValueError, match="at least one"):
        HotwordIndex(np.zeros((0, 32), np.float32), [])
    with pytest.raises(ValueError, match="500 embeddings but 499 words"):
        HotwordIndex(embeddings, words[:-1])
    with_nan = embeddings.copy()
    with_nan[3, 5] = np.nan
    with pytest.raises(ValueError, match=r"row\(s\) \[3\] contain NaN"):
        HotwordIndex(with_nan, words)
    with_zero = embeddings.copy()
    with_zero[7] = 0
    with pytest.raises(ValueError, match=r"row\(s\) \[7\] are all zero"):
        HotwordIndex(with_zero, words)
    with pytest.raises(VocabularyError, match="entry 2 'WORD0' duplicates entry 0 'word0'"):
        HotwordIndex(embeddings[:3], ["word0", "word1", "WORD0"])
    with pytest.raises(ValueError, match="must be a 2-D"):
        HotwordIndex(embeddings[0], words[:1])
    index = HotwordIndex(embeddings, words)
    with pytest.raises(ValueError, match="dimension 16, the index has 32"):
        index.search(queries[:, :16], 3)
    with pytest.raises(ValueError, match="k must be at least 1"):
        index.search(queries, 0)


# --- ranking ------------------------------------------------------------------------------------


def test_top_k_matches_a_stable_full_sort_with_many_ties():
    scores = np.random.default_rng(1).integers(0, 4, size=(50, 40)).astype(np.float32)
    for k in (1, 3, 17, 40):
        np.testing.assert_array_equal(top_k(scores, k), np.argsort(-scores, axis=1, kind="stable")[:, :k])


def test_top_k_ties_at_the_cut_go_to_the_lower_index():
    assert top_k(np.array([[1.0, 1.0, 1.0, 1.0]]), 2).tolist() == [[0, 1]]
    assert top_k(np.array([[0.5, 0.9, 0.5, 0.9]]), 3).tolist() == [[1, 3, 0]]
    assert top_k(np.array([[-np.inf, 0.0]]), 1).tolist() == [[1]]


def test_top_k_tiebreak_key_comes_before_the_index():
    scores = np.array([[0.5, 0.9, 0.5, 0.5]])
    assert top_k(scores, 3, tiebreak=np.array([0, 0, 1, 2])).tolist() == [[1, 3, 2]]
    assert ranked_words(scores, ["a", "b", "c", "d"], 2, tiebreak=np.array([0, 0, 1, 2])) == [["b", "d"]]


def test_top_k_clips_k_and_rejects_bad_input():
    assert top_k(np.array([[0.1, 0.3]]), 10).tolist() == [[1, 0]]
    assert top_k(np.zeros((2, 0)), 3).shape == (2, 0) and top_k(np.zeros((0, 4)), 3).shape == (0, 3)
    with pytest.raises(ValueError, match="k must be at least 1"):
        top_k(np.zeros((1, 3)), 0)
    with pytest.raises(ValueError, match="NaN at"):
        top_k(np.array([[0.1, np.nan]]), 1)
    with pytest.raises(ValueError, match=r"\[queries, vocabulary\] matrix"):
        top_k(np.zeros(3), 1)
    with pytest.raises(ValueError, match="2 columns but there are 3 words"):
        ranked_words(np.zeros((1, 2)), ["a", "b", "c"], 1)


def test_fuse_interpolates_row_normalized_scores():
    a = np.array([[0.2, 0.4, 0.6], [5.0, 5.0, 5.0]])
    b = np.array([[10.0, 0.0, 5.0], [1.0, 2.0, 3.0]])
    np.testing.assert_allclose(fuse(a, b, 1.0), [[0.0, 0.5, 1.0], [0.0, 0.0, 0.0]], atol=1e-6)
    np.testing.assert_allclose(fuse(a, b, 0.0), [[1.0, 0.0, 0.5], [0.0, 0.5, 1.0]], atol=1e-6)
    fused = fuse(a, b, 0.25)
    assert fused.dtype == np.float64  # distinct inputs stay distinct: weight 1 ranks exactly as a
    np.testing.assert_allclose(fused, [[0.75, 0.125, 0.625], [0.0, 0.375, 0.75]], atol=1e-6)


def test_fuse_rejects_bad_weight_shapes_and_non_finite_scores():
    a = np.zeros((2, 3))
    for weight in (-0.1, 1.5, float("nan")):
        with pytest.raises(ValueError, match="weight must be in"):
            fuse(a, a, weight)
    with pytest.raises(ValueError, match="differ in shape"):
        fuse(a, np.zeros((2, 4)), 0.5)
    with pytest.raises(ValueError, match="finite"):
        fuse(a, np.full((2, 3), np.inf), 0.5)
