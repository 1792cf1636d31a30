"""The training objective of seed 003 §4 as loss parts: CE/WCE anchor, InfoNCE, MWER.

One teacher-forced decoder pass per batch covers every sequence the enabled losses need: each
item's reference, its near-miss negatives (InfoNCE) and its N-best hypotheses (MWER). Sequences
of one clip share that clip's audio: cross-attention keys/values are computed once per clip and
indexed per sequence, instead of projecting 1500 frames again for every sequence (which would
dominate a CPU step). The model returns parts; the trainer weights them by the experiment's
loss weights and logs each one (icefall's ``compute_loss``).
"""

from __future__ import annotations

import contextlib
import types
from dataclasses import dataclass
from typing import Iterator, Sequence

import torch
import whisper
from whisper.tokenizer import Tokenizer, get_tokenizer

from workbench.asr.nbest import text_tokens
from workbench.asr.losses import (
    LossParts,
    cross_entropy,
    infonce_loss,
    mwer_loss,
    poi_token_weights,
    sequence_logprobs,
    weighted_cross_entropy,
    word_errors,
)
from workbench.training.data import TrainingItem
from workbench.training.experiment import ExperimentConfig

IGNORE = -100


def _indexed_cross_attention_forward(self, x, xa=None, mask=None, kv_cache=None):
    """Cross-attention for sequences whose audio is row ``self._clip_index[i]`` of ``xa``."""
    q = self.query(x)
    k, v = self.key(xa)[self._clip_index], self.value(xa)[self._clip_index]
    wv, _ = self.qkv_attention(q, k, v, None)
    return self.out(wv), None


@contextlib.contextmanager
def shared_audio(model: whisper.Whisper, clip_index: torch.Tensor) -> Iterator[None]:
    """Within the block, decoder sequence i attends to clip ``clip_index[i]`` of the audio features."""
    modules = [block.cross_attn for block in model.decoder.blocks]
    for module in modules:
        module._clip_index = clip_index
        module.forward = types.MethodType(_indexed_cross_attention_forward, module)
    try:
        yield
    finally:
        for module in modules:
            del module.forward
            del module._clip_index


@dataclass
class _Rows:
    """The padded decoder batch: inputs, targets and what each row is."""

    inputs: torch.Tensor  # [S, T] prefix + text tokens, padded with EOT
    targets: torch.Tensor  # [S, T] next tokens (text + EOT), IGNORE elsewhere
    clip: torch.Tensor  # [S] the batch item of each row
    kind: list[str]  # "ref" | "neg" | "nbest"
    item: list[int]
    weights: torch.Tensor  # [S, T] WCE token weights (1 outside POIs and on non-target positions)


class Objective:
    def __init__(self, model: whisper.Whisper, experiment: ExperimentConfig):
        self.model, self.experiment = model, experiment
        self._tokenizers: dict[str, Tokenizer] = {}

    def tokenizer(self, language: str) -> Tokenizer:
        if language not in self._tokenizers:
            self._tokenizers[language] = get_tokenizer(
                self.model.is_multilingual, num_languages=self.model.num_languages, language=language, task="transcribe",
            )
        return self._tokenizers[language]

    def _rows(self, items: Sequence[TrainingItem]) -> _Rows:
        experiment = self.experiment
        rows: list[tuple[list[int], list[int], list[float], int, str]] = []
        max_text = self.model.dims.n_text_ctx
        for index, item in enumerate(items):
            tokenizer = self.tokenizer(item.language)
            prefix = list(tokenizer.sot_sequence_including_notimestamps)

            def add(text: str, kind: str, weights: list[float] | None = None) -> None:
                tokens = text_tokens(tokenizer, text)[: max_text - len(prefix) - 1]
                target = tokens + [tokenizer.eot]
                rows.append((prefix + tokens, [IGNORE] * (len(prefix) - 1) + target,
                             [1.0] * (len(prefix) - 1) + (weights or [1.0] * len(target))[: len(target)], index, kind))

            weights = None
            if "wce" in experiment.losses:
                weights = poi_token_weights(tokenizer, item.reference, list(item.poi_spans), experiment.poi_weight, 0)
            add(item.reference, "ref", weights)
            if experiment.uses_negatives:
                for negative in item.negatives:
                    add(negative, "neg")
            if experiment.uses_nbest:
                for hypothesis in item.nbest:
                    add(hypothesis, "nbest")
        width = max(len(r[0]) for r in rows)
        eot = self.tokenizer(items[0].language).eot
        inputs = torch.full((len(rows), width), eot, dtype=torch.long)
        targets = torch.full((len(rows), width), IGNORE, dtype=torch.long)
        weights = torch.ones((len(rows), width))
        for i, (row_inputs, row_targets, row_weights, _item, _kind) in enumerate(rows):
            inputs[i, : len(row_inputs)] = torch.tensor(row_inputs)
            targets[i, : len(row_targets)] = torch.tensor(row_targets)
            weights[i, : len(row_weights)] = torch.tensor(row_weights)
        return _Rows(inputs, targets, torch.tensor([r[3] for r in rows]), [r[4] for r in rows], [r[3] for r in rows], weights)

    def __call__(self, features: torch.Tensor, items: Sequence[TrainingItem]) -> LossParts:
        """Loss parts for a batch; ``features`` are the items' encoder outputs [B, 1500, d]."""
        rows = self._rows(items)
        with shared_audio(self.model, rows.clip):
            logits = self.model.decoder(rows.inputs, features)
        parts: dict[str, torch.Tensor] = {}
        ref = torch.tensor([k == "ref" for k in rows.kind])
        losses = self.experiment.losses
        if "ce" in losses:
            parts["ce"] = cross_entropy(logits[ref], rows.targets[ref], IGNORE)
        if "wce" in losses:
            parts["wce"] = weighted_cross_entropy(logits[ref], rows.targets[ref], rows.weights[ref], IGNORE)
        if self.experiment.uses_negatives or self.experiment.uses_nbest:
            means = sequence_logprobs(logits, rows.targets, IGNORE, length_normalized=True)  # Eq. 9
            sums = sequence_logprobs(logits, rows.targets, IGNORE, length_normalized=False)  # MWER's P(y|x)
        if self.experiment.uses_negatives:
            parts["infonce"] = self._infonce(rows, means, len(items))
        if self.experiment.uses_nbest:
            parts["mwer"] = self._mwer(rows, sums, items)
        return LossParts(parts)

    def _infonce(self, rows: _Rows, means: torch.Tensor, n_items: int) -> torch.Tensor:
        width = max([sum(1 for k, i in zip(rows.kind, rows.item) if k == "neg" and i == b) for b in range(n_items)] + [1])
        negatives = torch.zeros(n_items, width)
        mask = torch.zeros(n_items, width, dtype=torch.bool)
        reference = torch.zeros(n_items)
        filled = [0] * n_items
        ref_scores, neg_scores = {}, {}
        for row, (kind, item) in enumerate(zip(rows.kind, rows.item)):
            if kind == "ref":
                ref_scores[item] = means[row]
            elif kind == "neg":
                neg_scores[(item, filled[item])] = means[row]
                filled[item] += 1
        reference = torch.stack([ref_scores[b] for b in range(n_items)])
        if neg_scores:
            index = torch.tensor(list(neg_scores))
            negatives = negatives.index_put((index[:, 0], index[:, 1]), torch.stack(list(neg_scores.values())))
            mask[index[:, 0], index[:, 1]] = True
        return infonce_loss(reference, negatives, self.experiment.tau, mask)

    def _mwer(self, rows: _Rows, sums: torch.Tensor, items: Sequence[TrainingItem]) -> torch.Tensor:
        width = max(len(item.nbest) for item in items) or 1
        logprobs = torch.full((len(items), width), float("-inf"))
        errors = torch.zeros(len(items), width)
        filled = [0] * len(items)
        positions, values = [], []
        for row, (kind, item) in enumerate(zip(rows.kind, rows.item)):
            if kind == "nbest":
                j = filled[item]
                filled[item] += 1
                positions.append((item, j))
                values.append(sums[row])
                errors[item, j] = word_errors(items[item].reference, items[item].nbest[j])
        if not positions:
            return sums.sum() * 0.0
        index = torch.tensor(positions)
        logprobs = logprobs.index_put((index[:, 0], index[:, 1]), torch.stack(values))
        return mwer_loss(logprobs, errors)



