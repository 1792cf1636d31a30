"""The full metric set for a corpus of (reference, hypothesis) pairs, over shared alignments.

Per utterance: whole-string normalization gives the WER (whitespace words) and CER (characters)
alignments; token-by-token normalization gives the mixed-token (MER) alignment that PIER, B-WER,
KER, SACC and the digit error rate all reuse, so POI flags survive normalization. U-CER/B-CER
reuse the character alignment. Normalization is cached per raw token, so repeated tokens (CJK
characters, common words) are normalized once per corpus.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Iterable, Sequence

from workbench.metrics.alignment import Alignment, align, corpus_rate
from workbench.metrics.bias import BiasCounts, BiasResult, PhraseIndex, bias_counts, corpus_bias
from workbench.metrics.keywords import (
    DigitCounts, KeywordCounts, KeywordResult, corpus_keywords, digit_counts, digit_error_rate, keyword_counts,
    sentence_accuracy,
)
from workbench.metrics.pier import PIERCounts, PIERResult, corpus_pier, pier_counts
from workbench.text import Normalizer, build_normalizer, character_tokens, mixed_tokens, word_tokens
from workbench.text.normalize import DEFAULT_STEPS
from workbench.text.poi import normalize_tokens, tag_pois


@dataclass(frozen=True)
class Reference:
    """What scoring needs of a reference utterance (a manifest Utterance fits via ``from_utterance``)."""

    id: str
    text: str
    language: str = "en"
    hotwords: tuple[str, ...] = ()
    spans: tuple[tuple[int, int], ...] = ()

    @classmethod
    def from_utterance(cls, utt) -> "Reference":
        return cls(utt.id, utt.text, utt.language, tuple(utt.hotwords), tuple((s.start, s.end) for s in utt.spans))


@dataclass(frozen=True)
class UtteranceScore:
    id: str
    reference_normalized: str
    hypothesis_normalized: str
    word: Alignment
    char: Alignment
    mixed: Alignment
    pier: PIERCounts
    bias_word: BiasCounts
    bias_char: BiasCounts
    keywords: KeywordCounts
    digits: DigitCounts
    poi_source: str

    def to_json(self) -> dict:
        def counts(a: Alignment) -> dict:
            return {"ref_tokens": a.reference_length, "hits": a.hits, "sub": a.substitutions, "del": a.deletions, "ins": a.insertions}

        return {
            "id": self.id, "reference_normalized": self.reference_normalized,
            "hypothesis_normalized": self.hypothesis_normalized,
            "wer": counts(self.word), "cer": counts(self.char), "mer": counts(self.mixed),
            "poi": {"source": self.poi_source, "tokens": self.pier.poi_tokens, "errors": self.pier.poi_errors},
            "bias": {"tokens": self.bias_word.bias_tokens, "errors": self.bias_word.bias_errors},
            "keywords": {"total": self.keywords.keywords, "missing": self.keywords.missing},
        }


@dataclass(frozen=True)
class CorpusScore:
    utterances: int
    wer: float
    cer: float
    mer: float
    sacc: float
    pier: PIERResult
    bias_word: BiasResult  # B-WER / U-WER over mixed tokens
    bias_char: BiasResult  # B-CER / U-CER over characters
    keywords: KeywordResult  # KER
    digit_error_rate: float
    per_utterance: list[UtteranceScore] = field(repr=False, default_factory=list)

    def as_metrics(self) -> dict[str, float]:
        return {
            "utterances": float(self.utterances), "wer": self.wer, "cer": self.cer, "mer": self.mer, "sacc": self.sacc,
            "pier": self.pier.pier, "non_poi_rate": self.pier.non_poi_rate, "poi_tokens": float(self.pier.poi_tokens),
            "pier_excluded_utterances": float(self.pier.excluded_no_poi),
            "b_wer": self.bias_word.b_rate, "u_wer": self.bias_word.u_rate,
            "b_cer": self.bias_char.b_rate, "u_cer": self.bias_char.u_rate,
            "bias_occurrences": float(self.bias_word.occurrences),
            "ker": self.keywords.ker, "keywords": float(self.keywords.keywords),
            "digit_error_rate": self.digit_error_rate,
        }


class Scorer:
    """Scores pairs with one normalizer; ``bias_phrases`` (optional) replaces per-utterance hotwords for B-WER."""

    def __init__(
        self,
        normalization: Sequence[str] = DEFAULT_STEPS,
        poi_neighbourhood: int = 0,
        embedded_language: str = "en",
        bias_phrases: Sequence[str] | None = None,
    ):
        self.poi_neighbourhood = poi_neighbourhood  # ±k tokens around embedded spans also count as POIs
        self.embedded_language = embedded_language
        self._normalize_whole = build_normalizer(normalization)
        self._normalize_token = functools.lru_cache(maxsize=500_000)(self._normalize_whole)
        self._global_phrases = None
        if bias_phrases is not None:
            self._global_phrases = self._phrase_indexes(bias_phrases)

    @property
    def normalizer(self) -> Normalizer:
        return self._normalize_whole

    def phrase_tokens(self, phrase: str) -> tuple[list[str], list[str]]:
        text = self._normalize_whole(phrase)
        return mixed_tokens(text), character_tokens(text)

    def _phrase_indexes(self, phrases: Iterable[str]) -> tuple[PhraseIndex, PhraseIndex]:
        mixed, chars = zip(*(self.phrase_tokens(p) for p in phrases)) if phrases else ((), ())
        return PhraseIndex(mixed), PhraseIndex(chars)

    def score(self, reference: Reference, hypothesis: str) -> UtteranceScore:
        ref_norm, hyp_norm = self._normalize_whole(reference.text), self._normalize_whole(hypothesis)
        tagged = tag_pois(
            reference.text, reference.language, self._normalize_token, reference.spans or None,
            self.poi_neighbourhood, self.embedded_language,
        )
        hyp_mixed, _ = normalize_tokens(hypothesis, self._normalize_token)
        mixed = align(tagged.tokens, hyp_mixed)
        char = align(character_tokens(ref_norm), character_tokens(hyp_norm))
        phrases = self._global_phrases or self._phrase_indexes(reference.hotwords)
        keywords = [self.phrase_tokens(h)[0] for h in reference.hotwords]
        return UtteranceScore(
            id=reference.id, reference_normalized=ref_norm, hypothesis_normalized=hyp_norm,
            word=align(word_tokens(ref_norm), word_tokens(hyp_norm)), char=char, mixed=mixed,
            pier=pier_counts(mixed, tagged.poi), bias_word=bias_counts(mixed, phrases[0]),
            bias_char=bias_counts(char, phrases[1]), keywords=keyword_counts(hyp_mixed, keywords),
            digits=digit_counts(mixed), poi_source=tagged.source,
        )

    def score_corpus(self, pairs: Iterable[tuple[Reference, str]]) -> CorpusScore:
        scores = [self.score(ref, hyp) for ref, hyp in pairs]
        return aggregate(scores)


def aggregate(scores: Sequence[UtteranceScore]) -> CorpusScore:
    return CorpusScore(
        utterances=len(scores),
        wer=corpus_rate([s.word for s in scores]),
        cer=corpus_rate([s.char for s in scores]),
        mer=corpus_rate([s.mixed for s in scores]),
        sacc=sentence_accuracy([s.mixed for s in scores]),
        pier=corpus_pier(s.pier for s in scores),
        bias_word=corpus_bias(s.bias_word for s in scores),
        bias_char=corpus_bias(s.bias_char for s in scores),
        keywords=corpus_keywords(s.keywords for s in scores),
        digit_error_rate=digit_error_rate(s.digits for s in scores),
        per_utterance=list(scores),
    )
