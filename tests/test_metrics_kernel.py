"""The compiled counting kernel (workbench/metrics/_kernel.pyx) agrees with the Python definitions.

``edit_summary`` is held to rapidfuzz's edit scripts, ``count_row`` to ``Scorer.score`` pair by
pair (every count of every metric), and ``score_corpus`` to ``aggregate`` over the Python scores,
on random corpora that exercise tags, spans, LID, multi-token and overlapping hotwords, inserted
phrases, digits, empty texts and utterances too long for the kernel (the rapidfuzz fallback).
"""

import dataclasses
import math
import random

import pytest
from rapidfuzz.distance import Levenshtein

from workbench.metrics.alignment import align
from workbench.metrics.kernel import COLUMNS, CountTable, Phrases, count_row, edit_summary
from workbench.metrics.scorer import Reference, Scorer, aggregate


def rapidfuzz_summary(reference, hypothesis):
    substitutions = deletions = wrong = 0
    inserted = []
    for kind, r, h in Levenshtein.editops(reference, hypothesis).as_list():
        if kind == "insert":
            inserted.append((r, h))
        else:
            wrong |= 1 << r
            substitutions += kind == "replace"
            deletions += kind == "delete"
    return substitutions, deletions, wrong, tuple(inserted)


def edited(rng, tokens, symbols):
    out = list(tokens)
    for _ in range(rng.randint(0, len(out) // 3 + 2)):
        roll = rng.random()
        if roll < 0.4 and out:
            out[rng.randrange(len(out))] = rng.choice(symbols)
        elif roll < 0.7 and out:
            del out[rng.randrange(len(out))]
        else:
            out.insert(rng.randint(0, len(out)), rng.choice(symbols))
    return out


def test_edit_summary_is_rapidfuzz_edit_script():
    rng = random.Random(0)
    declined = checked = 0
    for i in range(6000):
        size = rng.choice([2, 3, 6, 40, 3000])
        symbols = [chr(0x61 + k) if size <= 26 else chr(0x4E00 + k) for k in range(size)]
        if i % 7 == 0:
            symbols = [chr(0x1F600 + k % 64) for k in range(size)]  # four-byte characters
        reference = [rng.choice(symbols) for _ in range(rng.choice([0, 1, 3, 10, 40, 64, 65, 90, 200]))]
        hypothesis = (edited(rng, reference, symbols) if rng.random() < 0.85
                      else [rng.choice(symbols) for _ in range(rng.randint(0, 80))])
        kind = i % 3
        if kind == 0:
            reference, hypothesis = "".join(reference), "".join(hypothesis)
        elif kind == 1:
            reference, hypothesis = [f"w{t}" for t in reference], [f"w{t}" for t in hypothesis]
        else:
            reference, hypothesis = tuple(reference), list(hypothesis)
        summary = edit_summary(reference, hypothesis)
        if summary is None:
            declined += 1
            assert align(reference, hypothesis).chunks == Levenshtein.opcodes(reference, hypothesis).as_list()
            continue
        checked += 1
        assert summary == rapidfuzz_summary(reference, hypothesis), (reference, hypothesis)
    assert checked > 4000 and declined > 100  # both paths were taken


def test_edit_summary_declines_what_it_does_not_handle():
    assert edit_summary("abc", ["a", "b", "c"]) is None  # characters against tokens
    assert edit_summary(iter("ab"), "ab") is None
    long = [str(i) for i in range(100)]
    assert edit_summary(long, long[:1] + ["x"] + long[2:98] + ["y", "z"]) is None  # middle part of 98 tokens
    assert edit_summary(long, long[:30] + ["x"] + long[31:]) == (1, 0, 1 << 30, ())  # affixes removed first
    # equal objects that are not identical, and a hash tie broken by equality
    assert edit_summary(["ab", "c"], ["".join(["a", "b"]), "c"]) == (0, 0, 0, ())
    assert edit_summary([-1], [-2]) == (1, 0, 1, ())  # hash(-1) == hash(-2) in CPython


ENGLISH = "the doctor said my new prescription for xarelto and ozempic starts at 10 am after the meeting".split()
CHINESE = list("我们明天下午开会讨论预算这个项目进度比预期慢了很多三号") + ["meeting", "budget", "e-mail", "Q3", "2024"]
VIETNAMESE = "bệnh nhân cần tiêm insulin ngay sau khi ăn tối với metformin hai lần".split()
HOTWORDS = ["xarelto", "ozempic", "new prescription", "prescription for xarelto", "meeting", "budget", "预算",
            "项目进度", "进度", "insulin", "metformin", "10 am", "Q3", "the the"]


def random_reference(rng, i):
    language = rng.choice(["en", "zh", "vi", "fr"])
    vocab = {"en": ENGLISH, "zh": CHINESE, "vi": VIETNAMESE, "fr": ENGLISH}[language]
    size = rng.choice([0, 1, 3, 8, 15, 25]) if i % 25 else 90  # some too long for the kernel
    words = [rng.choice(vocab) for _ in range(size)]
    joiner = "" if language == "zh" and rng.random() < 0.6 else " "
    text = joiner.join(words)
    spans = ()
    roll = rng.random()
    if words and roll < 0.15:  # explicit marks
        k = rng.randrange(len(words))
        text = joiner.join(words[:k] + [f"<tag {words[k]}>"] + words[k + 1 :])
    elif words and roll < 0.3 and language != "zh":  # character spans
        start = text.index(words[0])
        spans = ((start, start + len(words[0])),)
    hotwords = tuple(rng.sample(HOTWORDS, rng.randint(0, 4))) + tuple(w for w in words if w in HOTWORDS)[:2]
    return Reference(str(i), text, language, hotwords, spans), words, joiner, vocab


def random_hypothesis(rng, words, joiner, vocab):
    roll = rng.random()
    if roll < 0.2:
        return joiner.join(words)
    if roll < 0.25:
        return ""
    hypothesis = edited(rng, words, vocab)
    if rng.random() < 0.3:  # a hotword inserted whole
        hypothesis.insert(rng.randint(0, len(hypothesis)), rng.choice(HOTWORDS))
    text = joiner.join(hypothesis)
    return text.upper() if rng.random() < 0.1 else text


def random_corpus(seed, n):
    rng = random.Random(seed)
    pairs = []
    for i in range(n):
        reference, words, joiner, vocab = random_reference(rng, i)
        pairs.append((reference, random_hypothesis(rng, words, joiner, vocab)))
    return pairs


def same_metrics(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(a[k] == b[k] or (math.isnan(a[k]) and math.isnan(b[k])) for k in a)


@pytest.mark.parametrize("options", [
    {}, {"poi_neighbourhood": 1}, {"bias_phrases": ["meeting", "new prescription", "进度", "the"]},
    {"normalization": ["spaces"]},
])
def test_count_rows_equal_the_python_scores(options):
    scorer = Scorer(**options)
    pairs = random_corpus(seed=len(options) + 7 * options.get("poi_neighbourhood", 0), n=800)
    table = CountTable()
    for reference, hypothesis in pairs:
        scorer._count(reference, hypothesis, table)
    python = [scorer.score(reference, hypothesis) for reference, hypothesis in pairs]
    assert table.rows == len(pairs)
    for i, score in enumerate(python):
        assert dict(zip(COLUMNS, table.row(i))) == dict(zip(COLUMNS, score.count_row())), pairs[i]
    # the counts are not all zero: every metric was exercised
    totals = table.totals()
    for column in ("poi_errors", "bias_word_errors", "bias_char_errors", "keywords_missing", "digit_errors",
                   "bias_word_occurrences", "word_ins", "char_del"):
        assert totals[column] > 0, column
    # corpus metrics: the kernel's column sums against aggregate's corpus functions
    kernel, reference = scorer.score_corpus(pairs), aggregate(python)
    assert same_metrics(kernel.as_metrics(), reference.as_metrics())
    assert kernel.pier == reference.pier and kernel.keywords == reference.keywords
    assert kernel.bias_char == reference.bias_char


def test_long_utterances_fall_back_to_the_python_path():
    words = [f"w{i}" for i in range(80)]
    reference = Reference("long", " ".join(words), "en", ("w3", "w70 w71"))
    hypothesis = " ".join(f"x{i}" if i % 2 else w for i, w in enumerate(words))  # 40 substitutions, 78-token middle
    scorer = Scorer()
    tokens = words, words, hypothesis.split(), hypothesis.split()
    hotwords = scorer._hotwords(reference.hotwords)
    assert not count_row(*tokens, None, hotwords.compiled_words, hotwords.compiled_characters,
                         hotwords.compiled_keywords, CountTable())
    corpus = scorer.score_corpus([(reference, hypothesis)])
    assert corpus.wer == pytest.approx(40 / 80)
    assert same_metrics(corpus.as_metrics(), aggregate([scorer.score(reference, hypothesis)]).as_metrics())


def test_per_utterance_scores_are_built_when_read():
    scorer = Scorer()
    pairs = random_corpus(seed=3, n=50)
    corpus = scorer.score_corpus(iter(pairs))  # any iterable
    assert len(corpus.per_utterance) == 50
    assert [s.to_json() for s in corpus.per_utterance] == [scorer.score(r, h).to_json() for r, h in pairs]
    assert corpus.per_utterance[-1].id == pairs[-1][0].id and len(corpus.per_utterance[:3]) == 3
    # the per-utterance counts, kept without Python objects, are those of the built scores
    assert len(corpus.counts) == 50
    assert [corpus.counts.row(i) for i in range(50)] == [s.count_row() for s in corpus.per_utterance]


def test_empty_corpus_and_empty_texts():
    scorer = Scorer()
    empty = scorer.score_corpus([])
    assert empty.utterances == 0 and math.isnan(empty.wer) and math.isnan(empty.sacc)
    both_empty = scorer.score_corpus([(Reference("a", ""), ""), (Reference("b", ""), "extra words")])
    assert both_empty.per_utterance[1].word.insertions == 2 and math.isnan(both_empty.wer)
    assert both_empty.sacc == 0.5


def test_kernel_rejects_bad_input_with_clear_errors():
    hotwords = Scorer()._hotwords(())
    with pytest.raises(ValueError, match="POI flags: expected 2 bytes"):
        count_row(["a", "b"], ["a", "b"], ["a"], ["a"], b"\x01", hotwords.compiled_words,
                  hotwords.compiled_characters, hotwords.compiled_keywords, CountTable())
    with pytest.raises(ValueError, match="grouped by their first element"):
        Phrases([("a", "b"), ("c",), ("a",)], False)
    with pytest.raises(TypeError, match="expected a string"):
        Phrases([("a", "b")], True)
    with pytest.raises(ValueError, match="3 values for 30 columns"):
        CountTable().append((1, 2, 3))
    with pytest.raises(IndexError):
        CountTable().row(0)
    assert len(COLUMNS) == 30 and len(dataclasses.fields(Reference)) == 5


def test_keep_utterances_scores_with_the_python_path():
    scorer = Scorer()
    pairs = random_corpus(seed=4, n=60)
    kept = scorer.score_corpus(pairs, keep_utterances=True)
    assert isinstance(kept.per_utterance, list) and len(kept.per_utterance) == 60
    assert same_metrics(kept.as_metrics(), scorer.score_corpus(pairs).as_metrics())


def test_column_names_match_the_python_row():
    assert COLUMNS.index("mixed_sub") == 9 and COLUMNS.index("poi_tokens") == 12 and COLUMNS.index("keywords") == 26
    assert COLUMNS.index("non_poi_errors") == 15 and COLUMNS.index("digit_errors") == 29
