"""WER/CER agree with jiwer to the last digit on 1,000 generated pairs."""

import random

import jiwer

from workbench.metrics import Reference, Scorer

WORDS = "the a cat sat on mat dog ran xarelto ozempic new york meeting budget".split()
CHARS = "我们明天开会讨论预算微信张经理"


def ours(pairs):
    return Scorer(normalization=["spaces"]).score_corpus((Reference(str(i), r), h) for i, (r, h) in enumerate(pairs))


def generated_pairs(seed: int, n: int, vocabulary, joiner: str):
    rng = random.Random(seed)
    pairs = []
    for _ in range(n):
        ref = [rng.choice(vocabulary) for _ in range(rng.randint(1, 12))]
        hyp = list(ref)
        for _ in range(rng.randint(0, 4)):
            op = rng.choice("sdi")
            position = rng.randrange(len(hyp) + 1)
            if op == "i":
                hyp.insert(position, rng.choice(vocabulary))
            elif hyp and position < len(hyp):
                if op == "s":
                    hyp[position] = rng.choice(vocabulary)
                else:
                    del hyp[position]
        pairs.append((joiner.join(ref), joiner.join(hyp)))
    return pairs


def test_wer_equals_jiwer_on_1000_pairs():
    pairs = generated_pairs(0, 1000, WORDS, " ")
    refs, hyps = zip(*pairs)
    assert ours(pairs).wer == jiwer.wer(list(refs), list(hyps))


def test_cer_equals_jiwer_on_1000_pairs():
    pairs = generated_pairs(1, 1000, list(CHARS), "")
    refs, hyps = zip(*pairs)
    assert ours(pairs).cer == jiwer.cer(list(refs), list(hyps))
    # for spaced text our CER ignores spaces: equal to jiwer's CER with whitespace removed
    spaced = generated_pairs(2, 1000, WORDS, " ")
    no_space = jiwer.Compose([jiwer.RemoveWhiteSpace(replace_by_space=False), jiwer.ReduceToListOfListOfChars()])
    refs, hyps = zip(*spaced)
    expected = jiwer.cer(list(refs), list(hyps), reference_transform=no_space, hypothesis_transform=no_space)
    assert ours(spaced).cer == expected
