"""WER, CER and MER (mixed error rate: CJK characters + other-script words) over shared alignments."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from workbench.metrics.alignment import Alignment, align, corpus_rate
from workbench.text import Normalizer, build_normalizer, character_tokens, mixed_tokens, word_tokens

_TOKENIZERS = {"wer": word_tokens, "cer": character_tokens, "mer": mixed_tokens}


@dataclass(frozen=True)
class UtteranceErrors:
    """One utterance's normalized texts and its alignment per token unit."""

    reference: str
    hypothesis: str
    alignments: dict  # unit ("wer" | "cer" | "mer") -> Alignment

    def rate(self, unit: str) -> float:
        a: Alignment = self.alignments[unit]
        return a.errors / a.reference_length if a.reference_length else float("nan")

    def to_json(self) -> dict:
        record = {"reference_normalized": self.reference, "hypothesis_normalized": self.hypothesis}
        for unit, a in self.alignments.items():
            record[unit] = {
                "ref_tokens": a.reference_length, "hits": a.hits, "sub": a.substitutions,
                "del": a.deletions, "ins": a.insertions,
            }
        return record


@dataclass(frozen=True)
class ErrorRates:
    """Corpus-level rates: sum of errors / sum of reference tokens, per unit."""

    utterances: int
    wer: float
    cer: float
    mer: float
    ref_words: int
    ref_chars: int
    ref_mixed: int

    def as_metrics(self, prefix: str = "") -> dict[str, float]:
        return {f"{prefix}{k}": float(v) for k, v in self.__dict__.items()}


def utterance_errors(reference: str, hypothesis: str, normalizer: Normalizer | None = None) -> UtteranceErrors:
    normalizer = normalizer or build_normalizer()
    ref, hyp = normalizer(reference), normalizer(hypothesis)
    return UtteranceErrors(ref, hyp, {unit: align(tok(ref), tok(hyp)) for unit, tok in _TOKENIZERS.items()})


def error_rates(per_utterance: Sequence[UtteranceErrors]) -> ErrorRates:
    def unit(name: str) -> list[Alignment]:
        return [u.alignments[name] for u in per_utterance]

    return ErrorRates(
        utterances=len(per_utterance),
        wer=corpus_rate(unit("wer")),
        cer=corpus_rate(unit("cer")),
        mer=corpus_rate(unit("mer")),
        ref_words=sum(a.reference_length for a in unit("wer")),
        ref_chars=sum(a.reference_length for a in unit("cer")),
        ref_mixed=sum(a.reference_length for a in unit("mer")),
    )
