"""Training losses (workbench.asr.losses) and their parts (workbench.training.losses.LossParts):
hand-computed values, masking, gradients, POI token weights."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch

from workbench.asr.losses import (
    cross_entropy,
    infonce_loss,
    mwer_loss,
    poi_token_weights,
    sequence_logprobs,
    weighted_cross_entropy,
    word_errors,
)
from workbench.metrics import Reference, Scorer
from workbench.training.losses import LossParts


def lse(*values: float) -> float:
    return math.log(sum(math.exp(v) for v in values))


# one sequence of three positions over a 3-token vocabulary; the last position is ignored
LOGITS = torch.tensor([[[1.0, 2.0, 3.0], [0.0, 0.0, 0.0], [5.0, -1.0, 0.0]]])
TARGETS = torch.tensor([[2, 1, -100]])
CE_0 = lse(1, 2, 3) - 3  # −log softmax([1, 2, 3])[2]
CE_1 = math.log(3)  # −log(1/3)


# --------------------------------------------------------------------------- token-level


def test_cross_entropy_hand_computed():
    assert cross_entropy(LOGITS, TARGETS).item() == pytest.approx((CE_0 + CE_1) / 2, rel=1e-6)


def test_cross_entropy_all_ignored_is_zero_with_gradient():
    logits = LOGITS.clone().requires_grad_()
    loss = cross_entropy(logits, torch.full((1, 3), -100))
    loss.backward()
    assert loss.item() == 0.0 and torch.all(logits.grad == 0)


def test_cross_entropy_half_precision_is_upcast():
    assert cross_entropy(LOGITS.half(), TARGETS).item() == pytest.approx((CE_0 + CE_1) / 2, rel=1e-3)


def test_weighted_cross_entropy_hand_computed():
    weights = torch.tensor([[2.0, 1.0, 7.0]])  # the ignored position's weight must not count
    assert weighted_cross_entropy(LOGITS, TARGETS, weights).item() == pytest.approx((2 * CE_0 + CE_1) / 3, rel=1e-6)


def test_weighted_cross_entropy_with_unit_weights_is_cross_entropy():
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(3, 5, 11, generator=generator)
    targets = torch.randint(0, 11, (3, 5), generator=generator)
    targets[1, 3:] = -100
    wce = weighted_cross_entropy(logits, targets, torch.ones(3, 5))
    assert wce.item() == pytest.approx(cross_entropy(logits, targets).item(), rel=1e-6)


def test_weighted_cross_entropy_rejects_bad_weights():
    with pytest.raises(ValueError):
        weighted_cross_entropy(LOGITS, TARGETS, torch.tensor([[1.0, -1.0, 1.0]]))
    with pytest.raises(ValueError):
        weighted_cross_entropy(LOGITS, TARGETS, torch.ones(1, 2))


def test_sequence_logprobs_sum_and_mean():
    logits = torch.cat([LOGITS, torch.tensor([[[0.0, 0.0, 0.0], [1.0, 2.0, 3.0], [0.0, 1.0, 0.0]]])])
    targets = torch.tensor([[2, 1, -100], [0, 2, 1]])
    row1 = -math.log(3) + (3 - lse(1, 2, 3)) + (1 - lse(0, 1, 0))
    sums = sequence_logprobs(logits, targets, length_normalized=False)
    means = sequence_logprobs(logits, targets)
    assert sums.tolist() == pytest.approx([-(CE_0 + CE_1), row1], rel=1e-6)
    assert means.tolist() == pytest.approx([-(CE_0 + CE_1) / 2, row1 / 3], rel=1e-6)


# --------------------------------------------------------------------------- MWER


def test_mwer_hand_computed_and_gradient_favours_fewer_errors():
    logprobs = torch.tensor([[-1.0, -2.0, -3.0]], requires_grad=True)
    errors = [1.0, 0.0, 3.0]
    z = sum(math.exp(v) for v in (-1, -2, -3))
    posterior = [math.exp(v) / z for v in (-1, -2, -3)]
    mean_error = sum(errors) / 3
    expected = sum(p * (e - mean_error) for p, e in zip(posterior, errors))
    loss = mwer_loss(logprobs, torch.tensor([errors]))
    assert loss.item() == pytest.approx(expected, rel=1e-6)
    loss.backward()
    grad = logprobs.grad[0]
    expected_error = sum(p * e for p, e in zip(posterior, errors))
    assert grad.tolist() == pytest.approx([p * (e - expected_error) for p, e in zip(posterior, errors)], rel=1e-5)
    assert grad[1] < 0  # descent raises the error-free hypothesis
    assert grad[2] > 0  # and lowers the worst one


def test_mwer_equal_errors_is_zero():
    logprobs = torch.tensor([[-1.0, -5.0, -2.0]], requires_grad=True)
    loss = mwer_loss(logprobs, torch.tensor([[2.0, 2.0, 2.0]]))
    loss.backward()
    assert loss.item() == pytest.approx(0.0, abs=1e-7)
    assert logprobs.grad.abs().max().item() < 1e-7


def test_mwer_short_lists_by_mask_or_minus_inf():
    full = mwer_loss(torch.tensor([[-1.0, -2.0]]), torch.tensor([[1.0, 0.0]]))
    padded = torch.tensor([[-1.0, -2.0, 0.0]])
    errors = torch.tensor([[1.0, 0.0, 99.0]])
    by_mask = mwer_loss(padded, errors, mask=torch.tensor([[True, True, False]]))
    by_inf = mwer_loss(torch.tensor([[-1.0, -2.0, float("-inf")]]), errors)
    assert by_mask.item() == pytest.approx(full.item(), rel=1e-6)
    assert by_inf.item() == pytest.approx(full.item(), rel=1e-6)


def test_mwer_rows_without_a_comparison_are_excluded():
    row = mwer_loss(torch.tensor([[-1.0, -2.0]]), torch.tensor([[1.0, 0.0]]))
    logprobs = torch.tensor([[-1.0, -2.0], [-0.5, float("-inf")], [float("-inf"), float("-inf")]], requires_grad=True)
    batch = mwer_loss(logprobs, torch.tensor([[1.0, 0.0], [4.0, 0.0], [0.0, 0.0]]))
    batch.backward()
    assert batch.item() == pytest.approx(row.item(), rel=1e-6)
    assert torch.isfinite(logprobs.grad).all()
    nothing = mwer_loss(logprobs[1:], torch.zeros(2, 2))
    assert nothing.item() == 0.0


def test_mwer_normalized_errors():
    logprobs = torch.tensor([[-1.0, -2.0], [-1.0, -2.0]])
    errors = torch.tensor([[1.0, 0.0], [4.0, 0.0]])
    posterior = math.exp(-1) / (math.exp(-1) + math.exp(-2))

    def row(e0: float) -> float:  # errors (e0, 0), baseline e0 / 2
        return posterior * (e0 - e0 / 2) + (1 - posterior) * (0 - e0 / 2)

    loss = mwer_loss(logprobs, errors, ref_lengths=torch.tensor([2, 8]), normalize_errors=True)
    assert loss.item() == pytest.approx((row(1 / 2) + row(4 / 8)) / 2, rel=1e-6)
    with pytest.raises(ValueError):
        mwer_loss(logprobs, errors, normalize_errors=True)


# --------------------------------------------------------------------------- InfoNCE


def test_infonce_hand_computed():
    expected = -math.log(math.exp(-5) / (math.exp(-5) + math.exp(-10) + math.exp(-8)))
    f64 = torch.float64
    loss = infonce_loss(torch.tensor([-0.5], dtype=f64), torch.tensor([[-1.0, -0.8]], dtype=f64), tau=0.1)
    assert loss.item() == pytest.approx(expected, rel=1e-12)
    loss32 = infonce_loss(torch.tensor([-0.5]), torch.tensor([[-1.0, -0.8]]), tau=0.1)
    assert loss32.dtype == torch.float32 and loss32.item() == pytest.approx(expected, rel=1e-6)


def test_infonce_decreases_when_reference_score_rises():
    negatives = torch.tensor([[-1.0, -0.8, -0.6]])
    values = [infonce_loss(torch.tensor([s]), negatives, tau=0.1).item() for s in (-1.2, -0.7, -0.3)]
    assert values[0] > values[1] > values[2]
    ref = torch.tensor([-0.7], requires_grad=True)
    infonce_loss(ref, negatives, tau=0.1).backward()
    assert ref.grad.item() < 0


def test_infonce_masked_negatives_are_ignored():
    expected = infonce_loss(torch.tensor([-0.5]), torch.tensor([[-1.0]]), tau=0.2)
    masked = infonce_loss(torch.tensor([-0.5]), torch.tensor([[-1.0, 3.0, 7.0]]), tau=0.2,
                          negative_mask=torch.tensor([[True, False, False]]))
    minus_inf = infonce_loss(torch.tensor([-0.5]), torch.tensor([[-1.0, float("-inf")]]), tau=0.2)
    assert masked.item() == pytest.approx(expected.item(), rel=1e-6)
    assert minus_inf.item() == pytest.approx(expected.item(), rel=1e-6)


def test_infonce_row_without_negatives_is_excluded():
    expected = -math.log(math.exp(-5) / (math.exp(-5) + math.exp(-10)))
    ref = torch.tensor([-0.5, -0.1], requires_grad=True)
    negatives = torch.tensor([[-1.0, 0.0], [2.0, 2.0]], requires_grad=True)
    mask = torch.tensor([[True, False], [False, False]])
    loss = infonce_loss(ref, negatives, tau=0.1, negative_mask=mask)
    loss.backward()
    assert loss.item() == pytest.approx(expected, rel=1e-6)  # the mean over one row, not two
    assert ref.grad[1].item() == 0.0 and torch.all(negatives.grad[1] == 0) and negatives.grad[0, 1].item() == 0.0
    empty = infonce_loss(ref, negatives, tau=0.1, negative_mask=torch.zeros(2, 2, dtype=torch.bool))
    assert empty.item() == 0.0


def test_infonce_is_stable_and_checks_tau():
    loss = infonce_loss(torch.tensor([-30.0]), torch.tensor([[-1.0]]), tau=0.01)
    assert loss.item() == pytest.approx(2900.0, rel=1e-6)  # log(e^-3000 + e^-100) + 3000 = 2900 + log1p(e^-2900)
    with pytest.raises(ValueError):
        infonce_loss(torch.tensor([0.0]), torch.tensor([[0.0]]), tau=0.0)


# --------------------------------------------------------------------------- POI token weights


@pytest.fixture(scope="module")
def tokenizers():
    from whisper.tokenizer import get_tokenizer

    return {lang: get_tokenizer(multilingual=True, language=lang, task="transcribe") for lang in ("zh", "vi")}


def spans_of(text: str, *words: str) -> list[tuple[int, int]]:
    return [(text.index(w), text.index(w) + len(w)) for w in words]


def split_by_weight(tokenizer, text: str, weights: list[float], poi_weight: float) -> tuple[str, str]:
    """(POI text, other text) from the token bytes, so byte-split characters decode whole."""
    tokens = tokenizer.encode(" " + text)
    pieces = [tokenizer.encoding.decode_single_token_bytes(t) for t in tokens]
    poi = b"".join(p for p, w in zip(pieces, weights) if w == poi_weight).decode("utf-8")
    other = b"".join(p for p, w in zip(pieces, weights) if w != poi_weight).decode("utf-8")
    return poi, other


def test_poi_weights_mandarin_english(tokenizers):
    tokenizer = tokenizers["zh"]
    text = "我们明天开meeting讨论budget"
    weights = poi_token_weights(tokenizer, text, spans_of(text, "meeting", "budget"), poi_weight=3.0, prefix_len=0)
    tokens = tokenizer.encode(" " + text)
    assert len(weights) == len(tokens) + 1
    assert weights[-1] == 1.0  # EOT
    assert set(weights) == {1.0, 3.0}
    poi, other = split_by_weight(tokenizer, text, weights[:-1], 3.0)
    assert poi == "meetingbudget"
    assert other == " 我们明天开讨论"


def test_poi_weights_follow_byte_split_characters(tokenizers):
    tokenizer = tokenizers["zh"]
    text = "我们明天开meeting讨论budget"
    pieces = [tokenizer.encoding.decode_single_token_bytes(t) for t in tokenizer.encode(" " + text)]
    assert "讨".encode() not in pieces  # 讨 is split over two byte-level tokens (what this test is about)
    weights = poi_token_weights(tokenizer, text, spans_of(text, "讨"), poi_weight=2.0, prefix_len=0)
    poi, _other = split_by_weight(tokenizer, text, weights[:-1], 2.0)
    assert poi == "讨"
    assert sum(w == 2.0 for w in weights) >= 2


def test_poi_weights_vietnamese_english(tokenizers):
    tokenizer = tokenizers["vi"]
    text = "Chúng ta sẽ họp meeting vào ngày mai để bàn về budget"
    weights = poi_token_weights(tokenizer, text, spans_of(text, "meeting", "budget"), poi_weight=2.0, prefix_len=0)
    assert len(weights) == len(tokenizer.encode(" " + text)) + 1
    poi, other = split_by_weight(tokenizer, text, weights[:-1], 2.0)
    assert poi == " meeting budget"  # whisper's word tokens carry the space before them
    assert "meeting" not in other and "budget" not in other
    # a Vietnamese word split inside (" họ" + "p"): both pieces are POI
    weights = poi_token_weights(tokenizer, text, spans_of(text, "họp"), poi_weight=2.0, prefix_len=0)
    assert split_by_weight(tokenizer, text, weights[:-1], 2.0)[0] == " họp"


def test_poi_weights_prefix_whitespace_and_bad_spans(tokenizers):
    tokenizer = tokenizers["zh"]
    text = "开meeting"
    plain = poi_token_weights(tokenizer, text, spans_of(text, "meeting"), poi_weight=2.0, prefix_len=0)
    prefixed = poi_token_weights(tokenizer, text, spans_of(text, "meeting"), poi_weight=2.0, prefix_len=3)
    assert prefixed == [1.0, 1.0, 1.0] + plain
    padded = "  " + text + " "  # spelled like text_tokens: stripped, offsets shift with it
    assert poi_token_weights(tokenizer, padded, spans_of(padded, "meeting"), poi_weight=2.0, prefix_len=0) == plain
    with pytest.raises(ValueError):
        poi_token_weights(tokenizer, text, [(3, 99)], poi_weight=2.0, prefix_len=0)


# --------------------------------------------------------------------------- word errors


@pytest.mark.parametrize(
    ("reference", "hypothesis", "errors"),
    [
        ("我们明天开meeting讨论budget", "我们明天开 meeting 讨论 budget", 0),  # spaces do not matter around CJK
        ("我们明天开meeting讨论budget", "我们明天开meting讨论", 2),  # one substitution, one deletion
        ("我们明天开会", "我們明天開會", 0),  # traditional -> simplified, as evaluation normalizes
        ("Hello, World!", "hello world", 0),
        ("Chúng ta sẽ họp meeting", "chúng ta se họp", 2),  # tones are kept
    ],
)
def test_word_errors_match_evaluation(reference: str, hypothesis: str, errors: int):
    assert word_errors(reference, hypothesis) == errors
    assert Scorer().score(Reference("u", reference, "zh"), hypothesis).mixed.errors == errors


# --------------------------------------------------------------------------- LossParts


def test_loss_parts_total_weights_and_logging():
    wce = torch.tensor(2.0, requires_grad=True)
    nce = torch.tensor(0.5, requires_grad=True)
    parts = LossParts({"wce": wce, "infonce": nce, "ce": torch.tensor(float("nan"))})  # ce: logged only
    total = parts.total({"wce": 1.0, "infonce": 0.5})
    assert total.item() == pytest.approx(2.25)
    total.backward()
    assert wce.grad.item() == 1.0 and nce.grad.item() == 0.5
    assert set(parts) == {"wce", "infonce", "ce"} and len(parts) == 3 and parts["wce"] is wce
    assert parts.total({"wce": 1.0, "infonce": 0.0}).item() == 2.0
    floats = parts.as_floats()
    assert floats["wce"] == 2.0 and math.isnan(floats["ce"])


def test_loss_parts_errors_and_immutability():
    parts = LossParts({"ce": torch.tensor(1.0)})
    with pytest.raises(KeyError):
        parts.total({"ce": 1.0, "mwer": 0.1})  # a weighted loss that was not computed
    with pytest.raises(ValueError):
        parts.total({"ce": 0.0})
    with pytest.raises(ValueError):
        parts.total({"ce": -1.0})
    with pytest.raises(ValueError):
        LossParts({"ce": torch.ones(2)})
    with pytest.raises(dataclasses.FrozenInstanceError):
        parts.parts = {}  # type: ignore[misc]
    with pytest.raises(TypeError):
        parts.parts["ce"] = torch.tensor(0.0)  # type: ignore[index]
