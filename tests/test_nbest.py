"""Batched N-best beam search and teacher-forced scoring (tiny random Whisper; real Whisper base)."""

import pytest
import torch
import whisper

from conftest import FIXTURES
from workbench.asr.nbest import NBestOptions, decode_nbest, teacher_forced_scores
from workbench.asr.transcribe import log_mel_batch
from workbench.data import load_audio
from workbench.testing.dummies import tiny_whisper

LIBRIVOX = "/usr/share/pocketsphinx/test/data/librivox/sense_and_sensibility_01_austen_64kb-0880.wav"


@pytest.fixture(scope="module")
def tiny():
    return tiny_whisper()


@pytest.fixture(scope="module")
def mels_tiny(tiny):
    torch.manual_seed(1)
    return torch.randn(3, 80, 3000)


def whisper_beam(model, mel, options: NBestOptions):
    result = whisper.decode(model, mel, options.decoding_options())
    return result.text, result.avg_logprob


def test_one_best_equals_whisper_beam_search_tiny(tiny, mels_tiny):
    options = NBestOptions(beam_size=4, n_best=4, language="en", max_tokens=12)
    results = decode_nbest(tiny, mels_tiny, options)
    for mel, result in zip(mels_tiny, results):
        text, avg = whisper_beam(tiny, mel, options)
        assert result.hyps[0].text == text
        assert result.hyps[0].avg_logprob == pytest.approx(avg, abs=1e-4)


def test_hypotheses_sorted_unique_and_deterministic(tiny, mels_tiny):
    options = NBestOptions(beam_size=4, n_best=4, language="en", max_tokens=12)
    first, second = decode_nbest(tiny, mels_tiny, options), decode_nbest(tiny, mels_tiny, options)
    assert [[h.tokens for h in r.hyps] for r in first] == [[h.tokens for h in r.hyps] for r in second]
    for result in first:
        texts = [h.text for h in result.hyps]
        assert len(texts) == len(set(texts))
        ranks = [h.sum_logprob / len(h.tokens) for h in result.hyps if h.tokens]
        assert ranks == sorted(ranks, reverse=True)


def test_teacher_forcing_matches_decoder_scores_tiny(tiny, mels_tiny):
    options = NBestOptions(beam_size=4, n_best=3, language="en", max_tokens=12)
    (result,) = decode_nbest(tiny, mels_tiny[:1], options)
    scores = teacher_forced_scores(tiny, mels_tiny[0], [h.tokens for h in result.hyps], "en")
    for hyp, score in zip(result.hyps, scores):
        # a beam cut at max_tokens has no EOT in its decoder score
        expected = score.sum_logprob if hyp.finished else sum(score.token_logprobs[:-1])
        assert expected == pytest.approx(hyp.sum_logprob, abs=1e-3)
        assert len(score.token_logprobs) == len(hyp.tokens) + 1


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (NBestOptions(beam_size=3, n_best=4), "n_best=4"),
        (NBestOptions(beam_size=0, n_best=1), "beam_size"),
        (NBestOptions(prompt="   "), "prompt is empty"),
    ],
)
def test_bad_options(tiny, mels_tiny, options, message):
    with pytest.raises(ValueError, match=message):
        decode_nbest(tiny, mels_tiny[:1], options)


def test_bad_teacher_forcing_input(tiny, mels_tiny):
    with pytest.raises(ValueError, match="no candidates"):
        teacher_forced_scores(tiny, mels_tiny[0], [], "en")
    with pytest.raises(ValueError, match="too long"):
        teacher_forced_scores(tiny, mels_tiny[0], [[220] * 500], "en")


def test_audio_longer_than_30s_is_refused(tiny):
    with pytest.raises(ValueError, match="longer than Whisper's 30 s window"):
        log_mel_batch(tiny, [torch.zeros(16000 * 31).numpy()])


def test_real_clips_one_best_equals_whisper_and_scores_match(whisper_base):
    entities = load_audio(FIXTURES / "audio" / "en_entities-0101.wav")
    # a short third clip finishes many steps before the others and leaves the batch early
    clips = [entities, load_audio(LIBRIVOX), entities[: 16000 * 6 // 5]]
    mel = log_mel_batch(whisper_base, clips)
    options = NBestOptions(beam_size=5, n_best=5, language="en")
    results = decode_nbest(whisper_base, mel, options)
    assert len(results[2].hyps[0].tokens) < len(results[1].hyps[0].tokens) // 2
    alone = decode_nbest(whisper_base, mel[2:], options)[0]  # no other clip in the batch
    assert [h.text for h in alone.hyps] == [h.text for h in results[2].hyps]
    assert [h.sum_logprob for h in alone.hyps] == pytest.approx([h.sum_logprob for h in results[2].hyps], abs=1e-3)
    for i, result in enumerate(results[:2]):
        text, avg = whisper_beam(whisper_base, mel[i], options)
        assert result.hyps[0].text == text and result.hyps[0].avg_logprob == pytest.approx(avg, abs=1e-4)
        assert len(result.hyps) >= 3
        forced = teacher_forced_scores(whisper_base, mel[i], [h.text for h in result.hyps[:3]], "en")
        assert forced[0].sum_logprob == pytest.approx(result.hyps[0].sum_logprob, abs=1e-2)


def test_trie_biasing_recovers_a_missed_hotword_and_leaves_other_clips(whisper_base):
    clips = [load_audio(FIXTURES / "audio" / "en_entities-0101.wav"), load_audio(LIBRIVOX)]
    mel = log_mel_batch(whisper_base, clips)
    plain = decode_nbest(whisper_base, mel, NBestOptions(language="en"))
    biased = decode_nbest(whisper_base, mel, NBestOptions(language="en", hotwords=("Ponyo",), hotword_bonus=1.5))
    assert "Ponyo" not in plain[0].hyps[0].text  # base decoding writes "ponio"
    assert "Ponyo" in biased[0].hyps[0].text
    assert biased[1].hyps[0].text == plain[1].hyps[0].text  # no hotword in this clip: unchanged


def test_hotword_that_tokenizes_to_nothing_is_refused(tiny, mels_tiny):
    with pytest.raises(ValueError, match="tokenizes to nothing|empty"):
        decode_nbest(tiny, mels_tiny[:1], NBestOptions(language="en", hotwords=("  ",), max_tokens=4))


def test_teacher_forcing_a_chinese_initial_text_is_finite(tiny, mels_tiny):
    """" 这个" tokenizes as " " + "这个"; whisper never emits that lone space first (blank
    suppression), so the scorer spells the text without it instead of scoring -inf."""
    import math

    (score,) = teacher_forced_scores(tiny, mels_tiny[0], ["这个project的deadline定在下周五。"], "zh")
    assert math.isfinite(score.sum_logprob) and all(math.isfinite(v) for v in score.token_logprobs)
