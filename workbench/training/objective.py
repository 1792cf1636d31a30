"""The training objective of seed 003 §4 as loss parts: CE/WCE anchor, InfoNCE, MWER.

One teacher-forced decoder pass per batch covers every sequence the enabled losses need: each
item's reference, its near-miss negatives (InfoNCE) and its N-best hypotheses (MWER). Sequences
of one clip share that clip's audio: cross-attention keys/values are computed once per clip and
indexed per sequence, instead of projecting 1500 frames again for every sequence (which would
dominate a CPU step). The model returns parts; the trainer weights them by the experiment's
loss weights and logs each one (icefall's ``compute_loss``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import whisper
from whisper.tokenizer import Tokenizer, get_tokenizer

from workbench.asr.losses import (
    cross_entropy,
    infonce_loss,
    mwer_loss,
    poi_token_weights,
    sequence_logprobs,
    weighted_cross_entropy,
    word_errors,
)
from workbench.asr.nbest import patched_cross_attention, text_tokens
from workbench.training.data import TrainingItem
from workbench.training.experiment import ExperimentConfig
from workbench.training.losses import LossParts

IGNORE = -100


def _indexed_cross_attention_forward(self, x, xa=None, mask=None, kv_cache=None):
    """Cross-attention for sequences whose audio is row ``self._clip_index[i]`` of ``xa``."""
    q = self.query(x)
    k, v = self.key(xa)[self._clip_index], self.value(xa)[self._clip_index]
    wv, _ = self.qkv_attention(q, k, v, None)
    return self.out(wv), None


def shared_audio(model: whisper.Whisper, clip_index: torch.Tensor):
    """Within the block, decoder sequence i attends to clip ``clip_index[i]`` of the audio features."""
    return patched_cross_attention(model, _indexed_cross_attention_forward, _clip_index=clip_index)


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
                self.model.is_multilingual, num_languages=self.model.num_languages, language=language,
                task="transcribe",
            )
        return self._tokenizers[language]

    def _rows(self, items: Sequence[TrainingItem]) -> _Rows:
        experiment = self.experiment
        rows: list[tuple[list[int], list[int], list[float], int, str]] = []
        max_text = self.model.dims.n_text_ctx
        for index, item in enumerate(items):
            tokenizer = self.tokenizer(item.language)
            prefix = list(tokenizer.sot_sequence_including_notimestamps)

            def add(text: str, kind: str, weights: list[float] | None = None,
                    tokenizer: Tokenizer = tokenizer, prefix: list[int] = prefix, index: int = index) -> None:
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
        items_of_rows = [r[3] for r in rows]
        return _Rows(inputs, targets, torch.tensor(items_of_rows), [r[4] for r in rows], items_of_rows, weights)

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

    @staticmethod
    def _per_item(rows: _Rows, values: torch.Tensor, kind: str, n_items: int, fill: float):
        """The rows of one ``kind`` laid out per batch item: [n_items, width] values (``fill``
        where an item has fewer rows), the mask of real entries, and each entry's (item, slot)."""
        slots: list[tuple[int, int]] = []
        rows_of_kind: list[int] = []
        filled = [0] * n_items
        for row, (row_kind, item) in enumerate(zip(rows.kind, rows.item)):
            if row_kind == kind:
                slots.append((item, filled[item]))
                rows_of_kind.append(row)
                filled[item] += 1
        matrix = torch.full((n_items, max(filled + [1])), fill)
        mask = torch.zeros(matrix.shape, dtype=torch.bool)
        if slots:
            index = torch.tensor(slots)
            matrix = matrix.index_put((index[:, 0], index[:, 1]), values[rows_of_kind])
            mask[index[:, 0], index[:, 1]] = True
        return matrix, mask, slots

    def _infonce(self, rows: _Rows, means: torch.Tensor, n_items: int) -> torch.Tensor:
        reference, _mask, _slots = self._per_item(rows, means, "ref", n_items, 0.0)
        negatives, mask, _slots = self._per_item(rows, means, "neg", n_items, 0.0)
        return infonce_loss(reference[:, 0], negatives, self.experiment.tau, mask)

    def _mwer(self, rows: _Rows, sums: torch.Tensor, items: Sequence[TrainingItem]) -> torch.Tensor:
        logprobs, mask, slots = self._per_item(rows, sums, "nbest", len(items), float("-inf"))
        if not slots:
            return sums.sum() * 0.0
        errors = torch.zeros(logprobs.shape)
        for item, slot in slots:
            errors[item, slot] = word_errors(items[item].reference, items[item].nbest[slot])
        return mwer_loss(logprobs, errors, mask=mask)
