"""Case tables for the metric conventions of issue 19 (docs/metrics.md): apostrophes, decimals,
brackets and whole-text normalization, empty references, CER with and without spaces, and
Whisper's English normalizer; checked against jiwer where the conventions say they agree."""

import math

import jiwer
import pytest

from workbench.errors import InputError
from workbench.metrics.options import DEFAULT_NORMALIZATION, ScoreConfig
from workbench.metrics.scorer import Reference, Scorer
from workbench.text.normalize import DEFAULT_STEPS, build_normalizer


def wer(reference: str, hypothesis: str, **options) -> float:
    return Scorer(**options).score_corpus([(Reference("u", reference), hypothesis)]).wer


def test_config_default_is_the_library_default():
    assert DEFAULT_NORMALIZATION == DEFAULT_STEPS
    assert ScoreConfig().cer_spaces is False and ScoreConfig().empty_reference == "undefined"
    with pytest.raises(ValueError, match="empty_reference"):
        ScoreConfig(empty_reference="zero")


@pytest.mark.parametrize("reference, hypothesis, errors", [
    ("I don't know", "I dont know", 1),  # whisper_basic alone: "don t" vs "dont", 2 errors
    ("I don't know", "I don’t know", 0),  # typographic apostrophe
    ("l'amour toujours", "l'amour toujours", 0),
    ("'quoted' words", "quoted words", 0),  # quotes are no in-word apostrophes
    ("the dogs' bone", "the dogs bone", 0),  # a trailing apostrophe goes
])
def test_in_word_apostrophes_survive(reference, hypothesis, errors):
    assert wer(reference, hypothesis) * len(reference.split()) == errors


@pytest.mark.parametrize("text, normalized", [
    ("pi is 3.14", "pi is 3.14"),
    ("It costs $0.36.", "it costs 0.36"),
    ("version 2. Then 3.5!", "version 2 then 3.5"),
    ("I don't", "i don't"),
])
def test_default_chain_on_the_whole_text(text, normalized):
    assert build_normalizer()(text) == normalized


@pytest.mark.parametrize("reference, hypothesis, expected", [
    ("pi is 3.14", "pi is 3 14", 2 / 3),  # one substitution, one insertion: the decimal is one token
    ("it costs $0.36", "it costs 0.36", 0.0),
    ("pi is 3.14", "pi is 3.14", 0.0),
])
def test_decimals_are_one_token(reference, hypothesis, expected):
    assert wer(reference, hypothesis) == pytest.approx(expected)


@pytest.mark.parametrize("reference, hypothesis", [
    ("hello world", "hello (um yeah) world"),  # was WER 0.5: normalized word by word
    ("hello world", "hello [noise] world"),
    ("hello world", "hello <unk> world"),
    ("hello world", "hello （um yeah） world"),  # full-width brackets, folded by "width" first
    ("hello (laughs) world", "hello world"),
])
def test_brackets_normalized_on_the_whole_text(reference, hypothesis):
    normalizer = build_normalizer()
    assert normalizer(hypothesis).split() == normalizer(reference).split()
    assert wer(reference, hypothesis) == 0.0
    assert Scorer().score(Reference("u", reference), hypothesis).word.errors == 0  # the Python path too


def test_whole_text_exception_glued_brackets():
    """The one documented exception: a bracketed span glued to words on both sides leaves a break."""
    normalizer = build_normalizer()
    assert normalizer("a(b)c") == "ac"
    scored = Scorer().score(Reference("u", "a c"), "a(b)c")
    assert scored.word.hypothesis == ["a", "c"]


@pytest.mark.parametrize("text", [
    "Hello, (um yeah) World! It's $3.50 [noise] now.", "don't <unk> stop (me) now", "x [a (b] c) y",
    "（注意）会议 meeting", "((a)) b", "() [] <>", "l'été 1.5 ‘x’",
])
def test_prepared_tokens_equal_the_whole_text_normalization(text):
    normalizer = build_normalizer()
    scorer = Scorer()
    words, _mixed, _ = scorer.tokenizer.tokens(scorer.prepare(text))
    assert words == normalizer(text).split()


def test_bracket_marks_keep_poi_spans():
    scorer = Scorer()
    scored = scorer.score(Reference("u", "(um) 我们 <tag meeting> 吧", "zh"), "我们 meeting 吧")
    assert scored.poi_source == "tags" and scored.pier.poi_tokens == 1 and scored.pier.poi_errors == 0


@pytest.mark.parametrize("pairs, expected_wer", [
    ([("", "a b"), ("", "c")], 3.0),  # jiwer: the insertion count
    ([("", "")], 0.0),
    ([("a", "a"), ("", "b c")], 2.0),  # reference tokens exist: the ordinary ratio either way
])
def test_empty_references(pairs, expected_wer):
    references, hypotheses = zip(*pairs)
    assert jiwer.wer(list(references), list(hypotheses)) == pytest.approx(expected_wer)
    corpus = [(Reference(str(i), r), h) for i, (r, h) in enumerate(pairs)]
    for keep in (False, True):
        jiwer_like = Scorer(empty_reference="errors").score_corpus(corpus, keep_utterances=keep)
        assert jiwer_like.wer == pytest.approx(expected_wer)
        default = Scorer().score_corpus(corpus, keep_utterances=keep)
        if any(r for r in references):
            assert default.wer == pytest.approx(expected_wer)
        else:
            assert math.isnan(default.wer) and math.isnan(default.cer) and math.isnan(default.mer)
            spaced = Scorer(cer_spaces=True, empty_reference="errors").score_corpus(corpus, keep_utterances=keep)
            assert spaced.cer == pytest.approx(jiwer.cer(list(references), list(hypotheses)))


def test_empty_reference_per_utterance():
    scored = Scorer().score(Reference("u", ""), "a b")
    assert scored.word.rate() == math.inf
    assert scored.word.rate("errors") == 2.0 == jiwer.wer("", "a b")
    assert scored.word.rate("errors") == Scorer().score(Reference("u", ""), "").word.rate() + 2


@pytest.mark.parametrize("reference, hypothesis, jiwer_cer, characters_only", [
    ("This is a test", "This test", 5 / 14, 3 / 11),
    ("hello world", "hello world", 0.0, 0.0),
    ("hello world", "helloworld", 1 / 11, 0.0),  # a missing space is an error only with spaces
    ("ab cd", "ab  cd", 0.0, 0.0),
])
def test_cer_with_and_without_spaces(reference, hypothesis, jiwer_cer, characters_only):
    lowered = reference.lower(), hypothesis.lower()
    assert jiwer.cer(" ".join(lowered[0].split()), " ".join(lowered[1].split())) == pytest.approx(jiwer_cer)
    corpus = [(Reference("u", reference), hypothesis)]
    assert Scorer().score_corpus(corpus).cer == pytest.approx(characters_only)
    spaced = Scorer(cer_spaces=True).score_corpus(corpus)
    assert spaced.cer == pytest.approx(jiwer_cer)
    assert spaced.per_utterance[0].to_json()["cer"]["ref_tokens"] == len(" ".join(reference.split()))


def test_cer_spaces_leave_the_other_metrics_alone():
    corpus = [(Reference("1", "the cat sat on the mat", hotwords=("cat",)), "the bat sat on mat"),
              (Reference("2", "a b"), "a c d")]
    default, spaced = Scorer().score_corpus(corpus), Scorer(cer_spaces=True).score_corpus(corpus)
    assert repr(default.as_metrics() | {"cer": 0.0}) == repr(spaced.as_metrics() | {"cer": 0.0})  # NaN-aware
    assert spaced.cer > default.cer


@pytest.mark.parametrize("text, normalized", [
    ("I don't know", "i do not know"),
    ("Mr. Smith won't go", "mister smith will not go"),
    ("twenty one people", "21 people"),
    ("it costs $0.36", "it costs ¢36"),
    ("The colour grey", "the color gray"),
    ("hello (um yeah) world", "hello world"),
])
def test_whisper_english_normalizer(text, normalized):
    assert build_normalizer(["whisper_english"])(text) == normalized


@pytest.mark.parametrize("reference, hypothesis", [
    ("twenty one people came", "21 people came"),
    ("I don't know", "I do not know"),
    ("the colour of it", "the color of it"),
    ("Mr Smith", "mister smith"),
])
def test_whisper_english_scores_whole_text(reference, hypothesis):
    english = ["whisper_english", "spaces"]
    assert wer(reference, hypothesis, normalization=english) == 0.0
    assert wer(reference, hypothesis) > 0.0  # the default chain has no English rules
    scored = Scorer(normalization=english).score(Reference("u", reference), hypothesis)
    assert scored.word.errors == 0


def test_whisper_english_refuses_character_spans():
    scorer = Scorer(normalization=["whisper_english"])
    with pytest.raises(InputError, match="whole-text"):
        scorer.score(Reference("u", "call <tag Anna> now"), "call anna now")


@pytest.mark.parametrize("reference, hypothesis", [
    ("I don't know", "I dont know"), ("pi is 3.14", "pi is 3 14"), ("This is a test", "This test"),
    ("hello world", "hello (um yeah) world"), ("a b c d", "a x c"),
])
def test_equal_to_jiwer_on_normalized_text(reference, hypothesis):
    """The documented agreement: WER and (with cer_spaces) CER equal jiwer's on the normalized texts."""
    normalizer = build_normalizer()
    ref, hyp = normalizer(reference), normalizer(hypothesis)
    corpus = Scorer(cer_spaces=True).score_corpus([(Reference("u", reference), hypothesis)])
    assert corpus.wer == pytest.approx(jiwer.wer(ref, hyp))
    assert corpus.cer == pytest.approx(jiwer.cer(ref, hyp))
