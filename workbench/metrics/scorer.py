"""The full metric set for a corpus of (reference, hypothesis) pairs, over shared alignments.

Per utterance: whole-string normalization gives the WER (whitespace words) and CER (characters)
alignments; token-by-token normalization gives the mixed-token (MER) alignment that PIER, B-WER,
KER, SACC and the digit error rate all reuse, so POI flags survive normalization. U-CER/B-CER
reuse the character alignment. Normalization is cached per raw token, so repeated tokens (CJK
characters, common words) are normalized once per corpus.
"""

from __future__ import annotations

import contextlib
import gc
from dataclasses import dataclass, field
from typing import Iterable, Sequence

from workbench.metrics.alignment import Alignment, align, corpus_rate
from workbench.metrics.bias import (
    BiasCounts,
    BiasResult,
    PhraseIndex,
    bias_counts,
    corpus_bias,
)
from workbench.metrics.keywords import (
    DigitCounts,
    KeywordCounts,
    KeywordResult,
    corpus_keywords,
    digit_counts,
    digit_error_rate,
    keyword_counts,
    sentence_accuracy,
)
from workbench.metrics.pier import PIERCounts, PIERResult, corpus_pier, pier_counts
from workbench.text import Normalizer, build_normalizer
from workbench.text.normalize import DEFAULT_STEPS
from workbench.text.poi import TextAnalyzer, has_tags, strip_tags, tag_pois


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


@dataclass(slots=True)
class UtteranceScore:
    id: str
    word: Alignment
    char: Alignment  # over the characters of the normalized text, spaces excluded
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
            "id": self.id, "reference_normalized": " ".join(self.word.reference),
            "hypothesis_normalized": " ".join(self.word.hypothesis),
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
        self.normalizer: Normalizer = build_normalizer(normalization)
        self.analyzer = TextAnalyzer(self.normalizer)
        self._phrases: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {}
        self._indexes: dict[tuple[str, ...], tuple[PhraseIndex, PhraseIndex]] = {}
        self._global_phrases = self._phrase_indexes(bias_phrases) if bias_phrases is not None else None

    def phrase_tokens(self, phrase: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """A hotword as mixed tokens and as characters, normalized like the texts."""
        hit = self._phrases.get(phrase)
        if hit is None:
            analysis = self.analyzer.analyse(phrase)
            hit = self._phrases[phrase] = (tuple(analysis.mixed), tuple("".join(analysis.words)))
        return hit

    def _phrase_indexes(self, phrases: Sequence[str]) -> tuple[PhraseIndex, PhraseIndex]:
        key = tuple(phrases)
        hit = self._indexes.get(key)
        if hit is None:
            tokens = [self.phrase_tokens(p) for p in phrases]
            hit = (PhraseIndex(t[0] for t in tokens), PhraseIndex(t[1] for t in tokens))
            if len(self._indexes) < 100_000:
                self._indexes[key] = hit
        return hit

    def score(self, reference: Reference, hypothesis: str) -> UtteranceScore:
        text = reference.text
        # raw tokens and owners are needed only to carry character spans onto tokens
        ref = None if has_tags(text) else self.analyzer.analyse(text, with_raw=bool(reference.spans))
        tagged = tag_pois(
            text, reference.language, self.analyzer, reference.spans or None, self.poi_neighbourhood,
            self.embedded_language, analysis=ref,
        )
        if ref is None:
            text = strip_tags(text)[0]
            ref = self.analyzer.analyse(text, with_raw=False)
        # an exact transcript (a fifth of pairs or more in practice) normalizes like its reference
        hyp = ref if hypothesis == text else self.analyzer.analyse(hypothesis, with_raw=False)
        mixed = align(ref.mixed, hyp.mixed)
        same_words = ref.words == ref.mixed and hyp.words == hyp.mixed  # no CJK: words are the mixed tokens
        word = mixed if same_words else align(ref.words, hyp.words)
        char = align("".join(ref.words), "".join(hyp.words))
        if self._global_phrases is not None:
            phrases = self._global_phrases
        elif reference.hotwords:
            phrases = self._phrase_indexes(reference.hotwords)
        else:
            phrases = _NO_PHRASES
        keywords = [self.phrase_tokens(h)[0] for h in reference.hotwords]
        return UtteranceScore(
            reference.id, word, char, mixed, pier_counts(mixed, tagged.poi), bias_counts(mixed, phrases[0]),
            bias_counts(char, phrases[1]), keyword_counts(hyp.mixed, keywords), digit_counts(mixed), tagged.source,
        )

    def score_corpus(self, pairs: Iterable[tuple[Reference, str]]) -> CorpusScore:
        with _without_cyclic_gc():
            return aggregate([self.score(ref, hyp) for ref, hyp in pairs])


@contextlib.contextmanager
def _without_cyclic_gc():
    """Scoring creates ~10 small acyclic containers per utterance; the cyclic collector's passes
    over them cost ~30 % of the run (measured) and free nothing, so pause it for the batch."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


_NO_PHRASES = (PhraseIndex(()), PhraseIndex(()))


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
