import jiwer
import pytest

from workbench.metrics import Reference, Scorer, align
from workbench.text import build_normalizer, mixed_tokens


@pytest.mark.parametrize(
    ("ref", "hyp"),
    [("the cat sat on the mat", "the cat sit on mat"), ("a b c", "a x b c d"), ("hello world", "")],
)
def test_wer_agrees_with_jiwer(ref, hyp):
    scored = Scorer().score(Reference("u", ref), hyp)
    assert scored.word.rate() == pytest.approx(jiwer.wer(ref, hyp) if hyp else 1.0)


def test_mixed_tokens_split_cjk_and_latin():
    assert mixed_tokens("我们开meeting讨论 budget") == ["我", "们", "开", "meeting", "讨", "论", "budget"]


def test_normalizer_simplifies_and_keeps_vietnamese_tones():
    normalize = build_normalizer()
    assert normalize("我們開會。") == "我们开会"
    assert normalize("Bệnh nhân, cần tiêm Insulin!") == "bệnh nhân cần tiêm insulin"
    assert normalize("ＡＢＣ ｘ") == "abc x"
    with pytest.raises(ValueError, match="unknown normalization"):
        build_normalizer(["lower", "stem"])


def test_alignment_tags_and_corpus_rate():
    a = align(["a", "b", "c"], ["a", "x"])
    assert (a.hits, a.substitutions, a.deletions, a.insertions) == (1, 1, 1, 0)
    assert a.reference_tags() == ["C", "S", "D"]
    corpus = Scorer().score_corpus([(Reference("1", "a b c"), "a x"), (Reference("2", "d"), "d")])
    assert corpus.wer == pytest.approx(2 / 4)
