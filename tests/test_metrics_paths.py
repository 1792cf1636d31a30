"""The fast paths of the metrics agree with plain implementations of their definitions.

The scorer tokenizes with memo lookups mapped in C, keeps substituted/deleted positions as bit
masks and has shortcuts for one-token phrases and keywords; each is checked here against the
straightforward version (TextAnalyzer, chunk walks, token scans) on edge cases and random data.
"""

import dataclasses
import random

import pytest
from rapidfuzz.distance import Levenshtein

from workbench.metrics.alignment import DELETE, INSERT, SUBSTITUTE, align
from workbench.metrics.bias import PhraseIndex, bias_counts, find_occurrences
from workbench.metrics.keywords import count_occurrences, keyword_counts
from workbench.metrics.pier import PIERCounts, pier_counts
from workbench.metrics.scorer import Reference, Scorer
from workbench.metrics.tokens import ScoringTokenizer
from workbench.text import build_normalizer
from workbench.text.poi import TextAnalyzer

TEXTS = [
    "", "   ", "The doctor said, \"Xarelto!\"", "x-ray  e-mail\tdon't ...", "ＡＢＣ ｘ 2024年",
    "我们明天开meeting讨论budget", "我们明天开 meeting 讨论 budget。", "開會・e-mail 我",
    "Bệnh nhân cần tiêm Insulin ngay.", "㍿ (aside) [x] 微信",
]


@pytest.mark.parametrize("text", TEXTS)
def test_tokenizer_equals_text_analyzer(text):
    analyzer = TextAnalyzer(build_normalizer())
    words, mixed, flags = ScoringTokenizer(analyzer).tokens(text, ("zh", "en"))
    analysis = analyzer.analyse(text)
    assert (words, mixed) == (analysis.words, analysis.mixed)
    # each mixed token carries the LID flag of the raw token it came from
    raw_flags = analyzer.embedded_flags(analysis.raw, "zh", "en")
    assert list(flags) == [raw_flags[i] for i in analysis.owner]
    # TextAnalyzer's own cached shortcut keeps to the same definition ("・e-mail": a raw token that
    # normalizes to nothing next to one that normalizes to two)
    assert analyzer.lid_flags(text, "zh", "en") == [raw_flags[i] for i in analysis.owner]


def chunk_counts(reference, hypothesis):
    """(hits, sub, del, ins, S/D positions, (gap, position) per inserted token) from rapidfuzz's opcodes."""
    hits = subs = dels = ins = 0
    wrong, inserted = set(), []
    for kind, r1, r2, h1, h2 in Levenshtein.opcodes(reference, hypothesis).as_list():
        if kind == INSERT:
            ins += h2 - h1
            inserted += [(r1, h) for h in range(h1, h2)]
        elif kind in (SUBSTITUTE, DELETE):
            wrong.update(range(r1, r2))
            subs += (r2 - r1) * (kind == SUBSTITUTE)
            dels += (r2 - r1) * (kind == DELETE)
        else:
            hits += r2 - r1
    return hits, subs, dels, ins, wrong, inserted


def random_pair(rng, alphabet="abcd", as_string=False):
    ref = [rng.choice(alphabet) for _ in range(rng.randint(0, 9))]
    hyp = list(ref) if rng.random() < 0.2 else [rng.choice(alphabet) for _ in range(rng.randint(0, 9))]
    return ("".join(ref), "".join(hyp)) if as_string else (ref, hyp)


def test_alignment_masks_equal_the_chunk_walk():
    rng = random.Random(0)
    for i in range(3000):
        ref, hyp = random_pair(rng, as_string=i % 2 == 0)
        a = align(ref, hyp)
        hits, subs, dels, ins, wrong, inserted = chunk_counts(ref, hyp)
        assert (a.hits, a.substitutions, a.deletions, a.insertions, a.errors) == (hits, subs, dels, ins,
                                                                                  subs + dels + ins)
        assert a.wrong == sum(1 << p for p in wrong) and list(a.inserted) == inserted
        assert a.chunks == Levenshtein.opcodes(ref, hyp).as_list()
    # the shortcuts: identical sequences, and one token against another
    assert align(["a", "b"], ["a", "b"]).chunks == [("equal", 0, 2, 0, 2)]
    single = align(["我们开会"], ["我们开"])
    assert (single.substitutions, single.errors, single.wrong, single.chunks) == (1, 1, 1, [("replace", 0, 1, 0, 1)])


def chunk_pier(ref, hyp, poi):
    """PIER counts by the module docstring's rule, walking rapidfuzz's chunks."""
    poi_errors = other_errors = 0
    for kind, r1, r2, h1, h2 in Levenshtein.opcodes(ref, hyp).as_list():
        if kind in (SUBSTITUTE, DELETE):
            on_poi = sum(poi[r1:r2])
            poi_errors += on_poi
            other_errors += (r2 - r1) - on_poi
        elif kind == INSERT:
            adjacent = (r1 > 0 and poi[r1 - 1]) or (r1 < len(poi) and poi[r1])
            poi_errors += (h2 - h1) if adjacent else 0
            other_errors += 0 if adjacent else (h2 - h1)
    n_poi = sum(poi)
    return (n_poi, poi_errors, len(poi) - n_poi, other_errors) if n_poi else (0, 0, len(poi), other_errors)


def test_pier_masks_equal_the_chunk_walk():
    rng = random.Random(1)
    for _ in range(3000):
        ref, hyp = random_pair(rng)
        poi = [rng.random() < 0.3 for _ in ref]
        counts = pier_counts(align(ref, hyp), poi)
        assert dataclasses.astuple(counts) == chunk_pier(ref, hyp, poi)
        assert pier_counts(align(ref, hyp), bytes(poi)) == counts


def scan_occurrences(tokens, phrases):
    """Leftmost-longest occurrences by a plain token scan."""
    found, i = [], 0
    longest_first = sorted({tuple(p) for p in phrases}, key=len, reverse=True)
    while i < len(tokens):
        match = next((p for p in longest_first if tuple(tokens[i : i + len(p)]) == p), None)
        if match:
            found.append((i, i + len(match)))
        i += len(match) if match else 1
    return found


def chunk_bias(ref, hyp, phrases):
    """B-WER counts by the module docstring's rule, walking rapidfuzz's chunks."""
    occurrences = scan_occurrences(ref, phrases)
    in_bias = {p for start, end in occurrences for p in range(start, end)}
    bias_errors = other_errors = 0
    for kind, r1, r2, h1, h2 in Levenshtein.opcodes(ref, hyp).as_list():
        if kind in (SUBSTITUTE, DELETE):
            on_bias = len(in_bias & set(range(r1, r2)))
            bias_errors += on_bias
            other_errors += (r2 - r1) - on_bias
        elif kind == INSERT:
            forming = sum(end - start for start, end in scan_occurrences(hyp[h1:h2], phrases))
            bias_errors += forming
            other_errors += (h2 - h1) - forming
    return len(in_bias), bias_errors, len(ref) - len(in_bias), other_errors, len(occurrences)


@pytest.mark.parametrize("phrases", [[("a",)], [("a",), ("c",)], [("a", "b"), ("b",)],
                                     [("a", "b", "c"), ("b", "c"), ("d",)]])
def test_bias_masks_equal_the_chunk_walk(phrases):
    rng = random.Random(2)
    index = PhraseIndex(phrases)
    assert (index.single_tokens is not None) == all(len(p) == 1 for p in phrases)
    for i in range(2000):
        ref, hyp = random_pair(rng, as_string=i % 2 == 0)
        expected = chunk_bias(list(ref), list(hyp), phrases)
        assert dataclasses.astuple(bias_counts(align(ref, hyp), index)) == expected
        assert find_occurrences(ref, index) == scan_occurrences(list(ref), phrases)


def test_keyword_counts_one_token_and_phrases():
    rng = random.Random(3)
    keywords = [("a",), ("a",), ("b", "c"), ("d",), ("c", "c")]
    for _ in range(2000):
        hyp = [rng.choice("abcd") for _ in range(rng.randint(0, 9))]
        wanted = {k: keywords.count(k) for k in keywords}
        missing = sum(max(0, n - count_occurrences(hyp, k)) for k, n in wanted.items())
        assert (keyword_counts(hyp, keywords).keywords, keyword_counts(hyp, keywords).missing) == (5, missing)


def test_scorer_shares_frozen_count_records():
    corpus = Scorer().score_corpus([(Reference(str(i), "the cat sat", "en", ("cat",)), "the cat sat")
                                    for i in range(3)])
    first, second = corpus.per_utterance[0], corpus.per_utterance[1]
    assert first.bias_word is second.bias_word  # one record for equal counts
    with pytest.raises(dataclasses.FrozenInstanceError):
        first.pier.poi_tokens = 1
    assert isinstance(first.pier, PIERCounts) and first.pier.other_tokens == 3
