"""Training losses for Whisper fine-tuning (seed 003, CS-NMG: Whisper-LoRA with POI-aware contrastive training).

Every loss takes the output of one teacher-forced decoder pass, logits ``[B, T, V]`` for target
token ids ``[B, T]`` (positions to skip hold ``ignore_index``, -100 by convention; turn a padding
mask into that with ``targets.masked_fill(~mask, -100)``), or scores derived from it, and returns a
scalar tensor. The model side returns the parts in a ``workbench.training.losses.LossParts``; the
training loop weights them with the experiment's ``losses`` mapping and logs each part on its own.

Conventions shared by all losses:

* Log-probabilities are those of the raw model distribution (no decode-time logit filters, unlike
  ``workbench.asr.nbest.teacher_forced_scores``): training must move the model's own distribution.
* Half-precision logits are upcast to float32 before the softmax (a sum over a 51,865-token
  vocabulary in fp16 loses the small probabilities the losses are made of).
* An empty batch (nothing to score: every token ignored, no row with a comparison) gives a zero
  that is still attached to the graph, never NaN: one degenerate batch must not poison the
  optimizer state, and ``backward()`` still works.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import Tensor

from workbench.metrics.alignment import align
from workbench.text import build_normalizer
from workbench.text.poi import TextAnalyzer

if TYPE_CHECKING:
    from whisper.tokenizer import Tokenizer

IGNORE_INDEX = -100

__all__ = [
    "IGNORE_INDEX", "cross_entropy", "infonce_loss", "mwer_loss", "poi_token_weights",
    "sequence_logprobs", "weighted_cross_entropy", "word_errors",
]


# --------------------------------------------------------------------------- token-level losses


def _check_token_shapes(logits: Tensor, targets: Tensor) -> None:
    if logits.ndim != 3 or targets.ndim != 2 or logits.shape[:2] != targets.shape:
        raise ValueError(f"expected logits [B, T, V] and targets [B, T], "
                         f"got {tuple(logits.shape)} and {tuple(targets.shape)}")


def _token_nll(logits: Tensor, targets: Tensor, ignore_index: int) -> tuple[Tensor, Tensor]:
    """Per-token −log p(y_t | y_<t, x) ``[B, T]`` (0 at ignored positions) and the float mask of kept tokens.

    ``F.cross_entropy(reduction="none")`` is the fused log-softmax + gather: one ``[B·T, V]``
    temporary instead of two (the vocabulary is 51,865 wide).
    """
    _check_token_shapes(logits, targets)
    if logits.dtype in (torch.float16, torch.bfloat16):
        logits = logits.float()
    batch, length, vocab = logits.shape
    nll = F.cross_entropy(logits.reshape(batch * length, vocab), targets.reshape(-1).long(),
                          ignore_index=ignore_index, reduction="none").reshape(batch, length)
    return nll, (targets != ignore_index).to(nll.dtype)


def cross_entropy(logits: Tensor, targets: Tensor, ignore_index: int = IGNORE_INDEX) -> Tensor:
    """Token-level CE: L = (1/N) Σ_t −log p(y_t | y_<t, x) over the N non-ignored tokens of the batch.

    Seed 003 Eq. 8 with every w_t = 1. The mean is over tokens, not sequences (long utterances
    weigh in proportion to their length, as in Whisper's own training). No kept token gives 0.
    """
    nll, mask = _token_nll(logits, targets, ignore_index)
    return nll.sum() / mask.sum().clamp(min=1.0)


def weighted_cross_entropy(logits: Tensor, targets: Tensor, weights: Tensor,
                           ignore_index: int = IGNORE_INDEX) -> Tensor:
    """WCE (seed 003 Eq. 7–8): L = Σ_t w_t·CE_t / Σ_t w_t over non-ignored tokens.

    w_t = λ_poi for tokens of a POI (embedded-language span, see ``poi_token_weights``), 1
    otherwise; ``weights`` is ``[B, T]`` like ``targets`` (values at ignored positions do not
    matter). Normalizing by Σ w_t rather than by the token count keeps the loss a weighted *mean*
    of per-token CE: its scale stays that of CE whatever λ_poi and the POI density of a batch
    are, so the loss weight and learning rate tuned for CE carry over, and all weights 1 gives
    exactly ``cross_entropy``. Up-weighting POIs then shifts emphasis between tokens instead of
    inflating the whole loss. Weights must be ≥ 0; a zero weight sum gives 0.
    """
    if weights.shape != targets.shape:
        raise ValueError(f"weights {tuple(weights.shape)} must have the shape of targets {tuple(targets.shape)}")
    if bool((weights < 0).any()):
        raise ValueError("token weights must be non-negative")
    nll, mask = _token_nll(logits, targets, ignore_index)
    w = weights.to(device=nll.device, dtype=nll.dtype) * mask
    denominator = w.sum()
    # a where() around num / den would still send NaN gradients through the 0/0 branch
    safe = torch.where(denominator > 0, denominator, torch.ones_like(denominator))
    return (w * nll).sum() / safe


def sequence_logprobs(logits: Tensor, targets: Tensor, ignore_index: int = IGNORE_INDEX,
                      length_normalized: bool = True) -> Tensor:
    """Per-sequence score ``[B]``: Σ_t log p(y_t | y_<t, x), or with ``length_normalized`` seed 003 Eq. 9,
    s(y) = (1/|y|) Σ_t log p(y_t | y_<t, x), the sums over the sequence's non-ignored tokens.

    The mean is the score InfoNCE compares: references and near-miss negatives differ in token
    count, and a sum would favour the shorter one. MWER (Prabhavalkar et al. 2018) uses the sum.
    |y| counts every kept target, EOT included, as ``ForcedScore.avg_logprob`` does. A sequence
    with no kept token scores 0.
    """
    nll, mask = _token_nll(logits, targets, ignore_index)
    total = -nll.sum(dim=1)
    return total / mask.sum(dim=1).clamp(min=1.0) if length_normalized else total


# --------------------------------------------------------------------------- POI token weights


def poi_token_weights(tokenizer: Tokenizer, text: str, poi_char_spans: Sequence[tuple[int, int]],
                      poi_weight: float, prefix_len: int = 0) -> list[float]:
    """WCE weights of the target row of ``text``: ``prefix_len`` × 1, one per BPE token, then 1 for EOT.

    Whisper spells a transcript as ``" " + text`` (``workbench.asr.nbest.text_tokens``); its
    tokenizer is byte-level BPE, so a token may hold part of a UTF-8 character (a CJK character is
    3 bytes, often split over 2–3 tokens) and decoding tokens one by one does not give character
    offsets. Instead each token's bytes are laid over the UTF-8 bytes of the encoded string, and
    the token covers every character one of its bytes belongs to. A token covering any character
    of a span ``[start, end)`` (offsets into ``text``) gets ``poi_weight``: a partly-POI token
    (" meeting" holds the space before it; a byte-split character) is still POI evidence. Others,
    the EOT and the ``prefix_len`` positions before the first text token (the SOT sequence or
    prompt as the caller lays out its targets; usually ignored there anyway) get 1.

    Leading/trailing whitespace of ``text`` is stripped before encoding, exactly as
    ``text_tokens`` does, with the offsets shifted accordingly.
    """
    encoding = getattr(tokenizer, "encoding", tokenizer)  # whisper's Tokenizer wraps a tiktoken Encoding
    lead = len(text) - len(text.lstrip())
    spoken = " " + text.strip()
    tokens = encoding.encode(spoken)
    char_of_byte: list[int] = []  # text offset of the character each UTF-8 byte of ``spoken`` belongs to
    for index, char in enumerate(spoken):
        char_of_byte += [index - 1 + lead] * len(char.encode("utf-8"))  # index 0 is the added space: -1+lead
    poi = [False] * (len(text) + 1)  # shifted by one so the added space (offset -1) indexes 0
    for start, end in poi_char_spans:
        if not 0 <= start <= end <= len(text):
            raise ValueError(f"POI span ({start}, {end}) outside the text ({len(text)} characters)")
        for offset in range(start, end):
            poi[offset + 1] = True
    weights = [1.0] * prefix_len
    cursor = 0
    for token in tokens:
        size = len(encoding.decode_single_token_bytes(token))
        covered = char_of_byte[cursor : cursor + size]
        weights.append(float(poi_weight) if any(poi[offset + 1] for offset in set(covered)) else 1.0)
        cursor += size
    if cursor != len(char_of_byte):
        raise AssertionError(f"token bytes ({cursor}) do not re-spell the text ({len(char_of_byte)} bytes)")
    if tokens and encoding.decode_single_token_bytes(tokens[0]) == b" ":
        del weights[prefix_len]  # the lone leading space ``text_tokens`` drops (CJK-initial text)
    weights.append(1.0)  # EOT
    return weights


# --------------------------------------------------------------------------- sequence-level losses


def _empty_loss(*tensors: Tensor) -> Tensor:
    """A zero attached to the inputs' graph (so ``backward()`` works and gives zero gradients).

    Non-finite entries (-inf padding) are zeroed first: -inf · 0 would be NaN.
    """
    zero = torch.zeros((), device=tensors[0].device)
    for t in tensors:
        if t.requires_grad:
            zero = zero + torch.where(torch.isfinite(t), t, torch.zeros_like(t)).sum() * 0.0
    return zero


def mwer_loss(hyp_logprobs: Tensor, hyp_word_errors: Tensor, ref_lengths: Tensor | None = None,
              normalize_errors: bool = False, mask: Tensor | None = None) -> Tensor:
    """MWER over N-best lists (Prabhavalkar et al. 2018, "Minimum word error rate training for attention-based
    sequence-to-sequence models"): L = Σ_i P̂(y_i | x) · (E(y_i) − Ē), averaged over the batch.

    ``hyp_logprobs`` ``[B, N]`` are the *sum* log-probabilities of the hypotheses under the model
    (``sequence_logprobs(..., length_normalized=False)``); P̂ = softmax over the list, i.e. the
    model distribution renormalized to the N-best, which approximates the expected number of word
    errors. ``hyp_word_errors`` ``[B, N]`` are E(y_i) (``word_errors``; constants, no gradient).
    Ē is the mean error over the list; since Σ P̂ = 1 it leaves the gradient unchanged and centres
    the loss (the paper's variance reduction): the gradient w.r.t. log p(y_i) is
    P̂_i (E_i − Σ_j P̂_j E_j), pushing probability to hypotheses better than the model's average.

    Lists shorter than N: pass ``mask`` ``[B, N]`` (True = real hypothesis) or a logprob of -inf.
    With ``normalize_errors`` the errors are divided by ``ref_lengths`` ``[B]`` (reference tokens,
    at least 1), so long utterances do not dominate; ``ref_lengths`` is otherwise unused. Rows
    with fewer than 2 real hypotheses carry no comparison: they are excluded from the mean (no
    such row at all gives 0).
    """
    if hyp_logprobs.ndim != 2:
        raise ValueError(f"hyp_logprobs must be [B, N], got {tuple(hyp_logprobs.shape)}")
    logprobs = hyp_logprobs.float() if hyp_logprobs.dtype in (torch.float16, torch.bfloat16) else hyp_logprobs
    errors = torch.as_tensor(hyp_word_errors, device=logprobs.device).to(logprobs.dtype).detach()
    if errors.shape != logprobs.shape:
        raise ValueError(f"hyp_word_errors {tuple(errors.shape)} must match hyp_logprobs {tuple(logprobs.shape)}")
    valid = logprobs.detach() != float("-inf")
    if mask is not None:
        if mask.shape != logprobs.shape:
            raise ValueError(f"mask {tuple(mask.shape)} must match hyp_logprobs {tuple(logprobs.shape)}")
        valid = valid & mask.to(device=logprobs.device, dtype=torch.bool)
    if normalize_errors:
        if ref_lengths is None:
            raise ValueError("normalize_errors needs ref_lengths")
        lengths = torch.as_tensor(ref_lengths, device=logprobs.device).to(logprobs.dtype).clamp(min=1.0)
        if lengths.shape != logprobs.shape[:1]:
            raise ValueError(f"ref_lengths {tuple(lengths.shape)} must be [B] = {tuple(logprobs.shape[:1])}")
        errors = errors / lengths[:, None]
    counts = valid.sum(dim=1)
    rows = counts >= 2
    if not bool(rows.any()):
        return _empty_loss(logprobs)
    errors = errors.masked_fill(~valid, 0.0)
    # rows without real hypotheses get a dummy finite row, so their softmax is not NaN (they are dropped below)
    scores = torch.where(counts[:, None] > 0, logprobs.masked_fill(~valid, float("-inf")), torch.zeros_like(logprobs))
    posterior = torch.softmax(scores, dim=1)
    mean_error = errors.sum(dim=1, keepdim=True) / counts.clamp(min=1)[:, None].to(errors.dtype)
    per_row = (posterior * (errors - mean_error) * valid).sum(dim=1)
    return per_row[rows].mean()


def infonce_loss(ref_scores: Tensor, negative_scores: Tensor, tau: float,
                 negative_mask: Tensor | None = None) -> Tensor:
    """Contrastive loss of seed 003 Eq. 10, averaged over the batch:

        L = −log( exp(s(y)/τ) / (exp(s(y)/τ) + Σ_k exp(s(ỹ_k)/τ)) )
          = log(1 + Σ_k exp((s(ỹ_k) − s(y))/τ)) = softplus(logsumexp_k((s(ỹ_k) − s(y))/τ)),

    with s the length-normalized scores of Eq. 9 (``sequence_logprobs``): ``ref_scores`` ``[B]``
    for the reference, ``negative_scores`` ``[B, K]`` for its near-miss negatives. The reference
    must out-score acoustically/phonetically confusable transcripts (wrong POI spellings), which
    CE alone never asks. The softplus/logsumexp form neither overflows for small τ nor loses the
    small losses of well-separated rows to cancellation (logsumexp(…) − s(y)/τ would, in float32).

    τ is required: seed 003 fixes one value "in all experiments" but our copy lost it (the
    experiment config carries it). ``negative_mask`` ``[B, K]`` (True = real negative) excludes
    padding; a score of -inf is also treated as absent. A row with no valid negative has nothing
    to contrast (its loss would be identically log 1 = 0): it is excluded from the mean rather
    than diluting it; no such row at all gives 0.
    """
    if tau <= 0:
        raise ValueError(f"tau must be > 0, got {tau}")
    if ref_scores.ndim != 1 or negative_scores.ndim != 2 or negative_scores.shape[0] != ref_scores.shape[0]:
        raise ValueError(f"expected ref_scores [B] and negative_scores [B, K], got {tuple(ref_scores.shape)} "
                         f"and {tuple(negative_scores.shape)}")
    dtype = torch.promote_types(torch.promote_types(ref_scores.dtype, negative_scores.dtype), torch.float32)
    ref = ref_scores.to(dtype) / tau
    negatives = negative_scores.to(device=ref.device, dtype=dtype) / tau
    valid = negatives.detach() != float("-inf")
    if negative_mask is not None:
        if negative_mask.shape != negative_scores.shape:
            raise ValueError(f"negative_mask {tuple(negative_mask.shape)} must match "
                             f"negative_scores {tuple(negative_scores.shape)}")
        valid = valid & negative_mask.to(device=ref.device, dtype=torch.bool)
    rows = valid.any(dim=1)
    if not bool(rows.any()):
        return _empty_loss(ref_scores, negative_scores)
    margins = negatives - ref[:, None]
    # rows without a valid negative get a dummy finite row: logsumexp over all -inf has a NaN gradient
    margins = torch.where(rows[:, None], margins.masked_fill(~valid, float("-inf")), torch.zeros_like(margins))
    per_row = F.softplus(torch.logsumexp(margins, dim=1))
    return per_row[rows].mean()


# --------------------------------------------------------------------------- errors for MWER


@functools.lru_cache(maxsize=1)
def _analyzer() -> tuple[Callable[[str], str], TextAnalyzer]:
    """The scorer's two parts: the whole-text steps, then raw-token normalization."""
    normalizer = build_normalizer()
    return normalizer.prepare, TextAnalyzer(normalizer.per_token)


def word_errors(reference: str, hypothesis: str) -> int:
    """Edit distance (S + D + I) between two transcripts in the evaluation's mixed tokens (MER).

    Normalized with the project's default normalizer and tokenized with ``mixed_tokens`` (CJK
    characters one token each, other scripts by whitespace), through the same ``TextAnalyzer``
    path as ``Scorer`` (whole-text steps, then normalization per raw token), then
    ``align(...).errors``: MWER then minimizes exactly the error count the benchmark reports as MER.
    """
    prepare, analyzer = _analyzer()
    ref, hyp = (analyzer.analyse(prepare(text), with_raw=False).mixed for text in (reference, hypothesis))
    return align(ref, hyp).errors
