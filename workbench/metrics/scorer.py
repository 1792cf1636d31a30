"""The full metric set for a corpus of (reference, hypothesis) pairs, over shared alignments.

Per utterance: the normalized whitespace words give the WER alignment and their characters the
CER alignment; the mixed tokens (CJK characters one each) give the MER alignment that PIER, B-WER,
KER, SACC and the digit error rate all reuse, so POI flags survive normalization. U-CER/B-CER
reuse the character alignment; with no CJK the words are the mixed tokens and WER reuses the MER
alignment. Normalization runs once per distinct raw token (``ScoringTokenizer``), and hotword
lists are compiled into phrase matchers and keyword counts once per distinct list.

Two paths give the same numbers. ``Scorer.score`` builds an ``UtteranceScore`` of Python objects
(alignments, count records) from the definitions in this package; ``aggregate`` sums such scores.
``Scorer.score_corpus`` hands the tokens of each pair to the compiled kernel
(``workbench.metrics._kernel.count_row``), which writes the same counts as one row of a C array
per utterance, and builds the corpus result from its column sums; per-utterance scores are
built by ``Scorer.score`` when first asked for. The tests hold the two paths equal pair by pair.

Conventions (docs/metrics.md): each text goes through ``Normalizer.prepare`` (the parts of the chain
that need the whole text) before it is tokenized. Two options follow jiwer where the defaults do not:
``cer_spaces`` counts the spaces between words in CER (the kernel counts characters without them, so
this option scores through ``score``, as ``keep_utterances`` does), and ``empty_reference="errors"``
gives a corpus without reference tokens its error count as WER/CER/MER instead of NaN.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple, overload

from workbench.errors import InputError
from workbench.metrics.alignment import EMPTY_REFERENCE, Alignment, align, corpus_rate, empty_safe_rate
from workbench.metrics.bias import BiasCounts, BiasResult, PhraseIndex, bias_counts, corpus_bias
from workbench.metrics.kernel import CountTable, Phrases, count_row
from workbench.metrics.keywords import (
    DigitCounts,
    KeywordCounts,
    KeywordList,
    KeywordResult,
    corpus_keywords,
    digit_counts,
    digit_error_rate,
    has_digit,
    keyword_counts,
    sentence_accuracy,
)
from workbench.metrics.options import ScoreConfig
from workbench.metrics.pier import PIERCounts, PIERResult, corpus_pier, pier_counts
from workbench.metrics.result import shared_record
from workbench.metrics.tokens import ScoringTokenizer
from workbench.text import Normalizer, build_normalizer
from workbench.text.lid import CJK_MATRIX, VIETNAMESE
from workbench.text.normalize import DEFAULT_STEPS
from workbench.text.poi import TextAnalyzer, has_tags, strip_tags, tag_pois, widen


@dataclass(frozen=True)
class Reference:
    """What scoring needs of a reference utterance (a manifest Utterance fits via ``from_utterance``)."""

    id: str
    text: str
    language: str = "en"
    hotwords: tuple[str, ...] = ()
    spans: tuple[tuple[int, int], ...] = ()

    @classmethod
    def from_utterance(cls, utt) -> Reference:
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
    cer: Alignment  # the CER alignment: ``char``, or with ``cer_spaces`` over the words joined by spaces

    def to_json(self) -> dict:
        def counts(a: Alignment) -> dict:
            return {"ref_tokens": a.reference_length, "hits": a.hits, "sub": a.substitutions, "del": a.deletions,
                    "ins": a.insertions}

        return {
            "id": self.id, "reference_normalized": " ".join(self.word.reference),
            "hypothesis_normalized": " ".join(self.word.hypothesis),
            "wer": counts(self.word), "cer": counts(self.cer), "mer": counts(self.mixed),
            "poi": {"source": self.poi_source, "tokens": self.pier.poi_tokens, "errors": self.pier.poi_errors},
            "bias": {"tokens": self.bias_word.bias_tokens, "errors": self.bias_word.bias_errors},
            "keywords": {"total": self.keywords.keywords, "missing": self.keywords.missing},
        }

    def count_row(self) -> tuple[int, ...]:
        """The counts as a ``CountTable`` row (``workbench.metrics._kernel.COLUMNS`` order)."""

        def edits(a: Alignment) -> tuple[int, int, int, int]:
            return a.reference_length, a.substitutions, a.deletions, a.insertions

        def bias(b: BiasCounts) -> tuple[int, ...]:
            return b.bias_tokens, b.bias_errors, b.other_tokens, b.other_errors, b.occurrences

        p = self.pier
        return (
            *edits(self.word), *edits(self.cer), *edits(self.mixed),  # cer: char, or with spaces (cer_spaces)
            p.poi_tokens, p.poi_errors, p.other_tokens, p.other_errors,
            *bias(self.bias_word), *bias(self.bias_char),
            self.keywords.keywords, self.keywords.missing, self.digits.digit_tokens, self.digits.digit_errors,
        )


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
    per_utterance: Sequence[UtteranceScore] = field(repr=False, compare=False, default_factory=list)
    # each utterance's counts as a row of ``COLUMNS`` (``Scorer.score_corpus``), without Python objects
    counts: CountTable | None = field(repr=False, compare=False, default=None)

    @classmethod
    def from_counts(cls, counts: CountTable, per_utterance: Sequence[UtteranceScore],
                    empty_reference: str = "undefined") -> CorpusScore:
        """The corpus result from a ``CountTable``'s totals (the same formulas as ``aggregate``'s
        corpus functions: sums of errors over sums of tokens, NaN where nothing is counted, except
        WER/CER/MER with ``empty_reference="errors"``)."""
        t = counts.totals()

        def ratio(numerator: int, denominator: int) -> float:
            return numerator / denominator if denominator else float("nan")

        def errors(prefix: str) -> int:
            return t[f"{prefix}_sub"] + t[f"{prefix}_del"] + t[f"{prefix}_ins"]

        def bias(kind: str) -> BiasResult:
            b_tok, b_err = t[f"bias_{kind}_tokens"], t[f"bias_{kind}_errors"]
            u_tok, u_err = t[f"unbiased_{kind}_tokens"], t[f"unbiased_{kind}_errors"]
            return BiasResult(
                b_rate=ratio(b_err, b_tok), u_rate=ratio(u_err, u_tok), bias_tokens=b_tok, bias_errors=b_err,
                other_tokens=u_tok, other_errors=u_err, occurrences=t[f"bias_{kind}_occurrences"], utterances=t["rows"],
            )

        return cls(
            utterances=t["rows"],
            wer=empty_safe_rate(errors("word"), t["word_tokens"], empty_reference),
            cer=empty_safe_rate(errors("char"), t["char_tokens"], empty_reference),
            mer=empty_safe_rate(errors("mixed"), t["mixed_tokens"], empty_reference),
            sacc=ratio(t["exact"], t["rows"]),
            pier=PIERResult(
                pier=ratio(t["poi_errors"], t["poi_tokens"]),
                non_poi_rate=ratio(t["non_poi_errors"], t["non_poi_tokens"]),
                poi_tokens=t["poi_tokens"], poi_errors=t["poi_errors"],
                other_tokens=t["non_poi_tokens"], other_errors=t["non_poi_errors"],
                utterances=t["rows"], excluded_no_poi=t["without_poi"],
            ),
            bias_word=bias("word"),
            bias_char=bias("char"),
            keywords=KeywordResult(
                ker=ratio(t["keywords_missing"], t["keywords"]), keywords=t["keywords"], missing=t["keywords_missing"],
                utterances=t["rows"], utterances_without_keywords=t["without_keywords"],
            ),
            digit_error_rate=ratio(t["digit_errors"], t["digit_tokens"]),
            per_utterance=per_utterance,
            counts=counts,
        )

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
    """Scores pairs with one normalizer; ``bias_phrases`` (optional) replaces per-utterance hotwords for B-WER.

    ``cer_spaces``: count the spaces between words in CER, as jiwer does (default: characters
    only, so that CER compares across scripts with and without word spacing). ``empty_reference``:
    WER/CER/MER of a corpus without reference tokens, "undefined" (NaN, the default) or "errors"
    (the error count, jiwer's).
    """

    def __init__(
        self,
        normalization: Sequence[str] = DEFAULT_STEPS,
        poi_neighbourhood: int = 0,
        embedded_language: str = "en",
        bias_phrases: Sequence[str] | None = None,
        cer_spaces: bool = False,
        empty_reference: str = "undefined",
    ):
        if empty_reference not in EMPTY_REFERENCE:
            raise ValueError(f"empty_reference must be one of {EMPTY_REFERENCE}, got {empty_reference!r}")
        self.poi_neighbourhood = poi_neighbourhood  # ±k tokens around embedded spans also count as POIs
        self.embedded_language = embedded_language
        self.cer_spaces = cer_spaces
        self.empty_reference = empty_reference
        self.normalizer: Normalizer = build_normalizer(normalization)
        self.prepare = self.normalizer.prepare  # whole-text part, before raw-token normalization
        self.analyzer = TextAnalyzer(self.normalizer.per_token)
        self.tokenizer = ScoringTokenizer(self.analyzer)
        self._phrases: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {}
        self._hotword_lists: dict[tuple[str, ...], Hotwords] = {}
        self._global_phrases = self._hotwords(tuple(bias_phrases)) if bias_phrases is not None else None

    @classmethod
    def from_config(cls, config: ScoreConfig, bias_phrases: Sequence[str] | None = None) -> Scorer:
        """A scorer with every setting of a ``ScoreConfig`` (the one way stages build theirs)."""
        return cls(config.normalization, config.poi_neighbourhood, config.embedded_language, bias_phrases,
                   config.cer_spaces, config.empty_reference)

    def phrase_tokens(self, phrase: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """A hotword as mixed tokens and as characters, normalized like the texts."""
        hit = self._phrases.get(phrase)
        if hit is None:
            analysis = self.analyzer.analyse(self.prepare(phrase))
            hit = self._phrases[phrase] = (tuple(analysis.mixed), tuple("".join(analysis.words)))
        return hit

    def _hotwords(self, hotwords: tuple[str, ...]) -> Hotwords:
        """Phrase indexes and keyword counts of a hotword list, built once per distinct list."""
        hit = self._hotword_lists.get(hotwords) if hotwords else _NO_HOTWORDS
        if hit is None:
            mixed, characters = zip(*map(self.phrase_tokens, hotwords))
            hit = Hotwords.compile(PhraseIndex(mixed), PhraseIndex(characters), KeywordList(mixed))
            if len(self._hotword_lists) < 100_000:
                self._hotword_lists[hotwords] = hit
        return hit

    def _reference_tokens(self, reference: Reference) -> tuple[str, list[str], list[str], bytes | None, str]:
        """(tag-free text, words, mixed tokens, POI flag per mixed token or None, POI source).

        Marks are stripped before ``prepare`` (Whisper's bracket rule would remove ``<tag x>``); the
        character spans they leave hold in the prepared text, whose blanked brackets keep offsets."""
        text, language = reference.text, reference.language
        tagged = "<tag" in text and has_tags(text)  # the substring test first: most texts have no mark
        if tagged or reference.spans:
            if not self.normalizer.keeps_offsets:
                raise InputError(
                    f"utterance {reference.id}: POI marks or character spans cannot follow the whole-text "
                    f"normalization step(s) {self.normalizer.whole_text_steps}; score this set without them")
            text, spans = strip_tags(text) if tagged else (text, reference.spans)
            pois = tag_pois(self.prepare(text), language, self.analyzer, spans, self.poi_neighbourhood,
                            self.embedded_language)
            words, mixed, _ = self.tokenizer.tokens(self.prepare(text))
            return text, words, mixed, bytes(map(bool, pois.poi)), "tags" if tagged else pois.source
        if language in CJK_MATRIX or language in VIETNAMESE:
            words, mixed, flags = self.tokenizer.tokens(self.prepare(text), (language, self.embedded_language))
            if self.poi_neighbourhood:
                flags = bytes(map(bool, widen(flags, self.poi_neighbourhood)))
            return text, words, mixed, flags, "lid"
        words, mixed, _ = self.tokenizer.tokens(self.prepare(text))
        return text, words, mixed, None, "none"  # no LID rule for this matrix language, no marks: no POI

    def _pair_tokens(self, reference: Reference, hypothesis: str) -> tuple:
        """(reference words, reference mixed tokens, hypothesis words, hypothesis mixed tokens,
        POI flags or None, POI source, hotword list, B-WER/B-CER phrases)."""
        text, ref_words, ref_mixed, poi, poi_source = self._reference_tokens(reference)
        # an exact transcript (a fifth of pairs or more in practice) tokenizes like its reference
        if hypothesis == text:
            hyp_words, hyp_mixed = ref_words, ref_mixed
        else:
            hyp_words, hyp_mixed, _ = self.tokenizer.tokens(self.prepare(hypothesis))
        hotwords = self._hotwords(tuple(reference.hotwords))  # a tuple already, unless built by hand
        return ref_words, ref_mixed, hyp_words, hyp_mixed, poi, poi_source, hotwords, self._global_phrases or hotwords

    def score(self, reference: Reference, hypothesis: str) -> UtteranceScore:
        ref_words, ref_mixed, hyp_words, hyp_mixed, poi, poi_source, hotwords, phrases = self._pair_tokens(
            reference, hypothesis)
        mixed = align(ref_mixed, hyp_mixed)
        # no CJK: the words are the mixed tokens (most often the very same list)
        same_words = ((ref_words is ref_mixed or ref_words == ref_mixed)
                      and (hyp_words is hyp_mixed or hyp_words == hyp_mixed))
        word = mixed if same_words else align(ref_words, hyp_words)
        ref_chars = "".join(ref_words)
        char = align(ref_chars, "".join(hyp_words))
        cer = align(" ".join(ref_words), " ".join(hyp_words)) if self.cer_spaces else char
        return UtteranceScore(
            reference.id, word, char, mixed,
            pier_counts(mixed, poi) if poi else shared_record(PIERCounts, 0, 0, len(ref_mixed), mixed.errors),
            bias_counts(mixed, phrases.words), bias_counts(char, phrases.characters),
            keyword_counts(hyp_mixed, hotwords.keywords),
            # the test digit_counts starts with, on the character string already at hand
            digit_counts(mixed) if has_digit(ref_chars) else shared_record(DigitCounts, 0, 0),
            poi_source,
            cer,
        )

    def score_corpus(self, pairs: Iterable[tuple[Reference, str]], keep_utterances: bool = False) -> CorpusScore:
        """Corpus metrics of (reference, hypothesis) pairs, counted by the compiled kernel; the
        result's ``per_utterance`` scores the pairs with ``score`` when first read. With
        ``keep_utterances`` (a caller that will read every utterance's score) the pairs are scored
        by ``score`` once and summed by ``aggregate`` instead, as they are with ``cer_spaces`` (the
        kernel counts CER characters without spaces)."""
        pairs = pairs if isinstance(pairs, list) else list(pairs)
        if keep_utterances or self.cer_spaces:
            with _without_cyclic_gc():
                scores = [self.score(reference, hypothesis) for reference, hypothesis in pairs]
                return aggregate(scores, self.empty_reference)
        table = CountTable()
        with _without_cyclic_gc():
            for reference, hypothesis in pairs:
                self._count(reference, hypothesis, table)
        return CorpusScore.from_counts(table, UtteranceScores(self, pairs), self.empty_reference)

    def _count(self, reference: Reference, hypothesis: str, table: CountTable) -> None:
        """One pair's counts as a row of ``table``: the kernel's, or ``score``'s where it declines."""
        ref_words, ref_mixed, hyp_words, hyp_mixed, poi, _source, hotwords, phrases = self._pair_tokens(
            reference, hypothesis)
        if not count_row(ref_words, ref_mixed, hyp_words, hyp_mixed, poi, phrases.compiled_words,
                         phrases.compiled_characters, hotwords.compiled_keywords, table):
            table.append(self.score(reference, hypothesis).count_row())  # a middle part over 64 tokens


class UtteranceScores(Sequence):
    """A corpus's per-utterance scores, built by ``Scorer.score`` on first access (the corpus
    metrics do not need them: most callers never read them)."""

    def __init__(self, scorer: Scorer, pairs: list[tuple[Reference, str]]):
        self._scorer, self._pairs = scorer, pairs
        self._scores: list[UtteranceScore] | None = None

    def _built(self) -> list[UtteranceScore]:
        if self._scores is None:
            with _without_cyclic_gc():
                self._scores = [self._scorer.score(reference, hypothesis) for reference, hypothesis in self._pairs]
        return self._scores

    def __len__(self) -> int:
        return len(self._pairs)

    @overload
    def __getitem__(self, index: int) -> UtteranceScore: ...
    @overload
    def __getitem__(self, index: slice) -> list[UtteranceScore]: ...
    def __getitem__(self, index):
        return self._built()[index]

    def __iter__(self):
        return iter(self._built())


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


class Hotwords(NamedTuple):
    """A hotword list as B-WER phrases (mixed tokens), B-CER phrases (characters) and KER keywords,
    each also compiled for the kernel."""

    words: PhraseIndex
    characters: PhraseIndex
    keywords: KeywordList
    compiled_words: Phrases
    compiled_characters: Phrases
    compiled_keywords: Phrases

    @classmethod
    def compile(cls, words: PhraseIndex, characters: PhraseIndex, keywords: KeywordList) -> Hotwords:
        def grouped(index: PhraseIndex) -> list[tuple[str, ...]]:  # by first token, longest first
            return [phrase for group in index.by_first.values() for phrase in group]

        counted = sorted(keywords.counts)  # grouped by first token
        return cls(
            words, characters, keywords,
            Phrases(grouped(words), False),
            Phrases(["".join(phrase) for phrase in grouped(characters)], True),
            Phrases([keyword for keyword, _count in counted], False, [count for _keyword, count in counted]),
        )


_NO_HOTWORDS = Hotwords.compile(PhraseIndex(()), PhraseIndex(()), KeywordList(()))


def aggregate(scores: Sequence[UtteranceScore], empty_reference: str = "undefined") -> CorpusScore:
    mixed = [s.mixed for s in scores]
    return CorpusScore(
        utterances=len(scores),
        wer=corpus_rate([s.word for s in scores], empty_reference),
        cer=corpus_rate([s.cer for s in scores], empty_reference),
        mer=corpus_rate(mixed, empty_reference),
        sacc=sentence_accuracy(mixed),
        pier=corpus_pier([s.pier for s in scores]),
        bias_word=corpus_bias([s.bias_word for s in scores]),
        bias_char=corpus_bias([s.bias_char for s in scores]),
        keywords=corpus_keywords([s.keywords for s in scores]),
        digit_error_rate=digit_error_rate([s.digits for s in scores]),
        per_utterance=list(scores),
    )
