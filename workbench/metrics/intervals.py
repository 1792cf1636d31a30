"""Confidence intervals of corpus metrics and paired differences between two systems.

Every corpus rate is a ratio of sums over utterances (errors over tokens, exact utterances over
utterances, hits over queries), so the bootstrap resamples utterances and recomputes each rate as
a ratio of the resampled sums, never as a mean of per-utterance rates. A resample is a row of
multiplicities (how often each utterance was drawn); all resamples times the per-utterance
numerator/denominator matrix is one matrix product, so 1,000 resamples of 10,000 utterances take
well under a second. Intervals are percentile intervals; every metric of a call shares the same
resamples (seeded: the same seed gives the same intervals).

A paired comparison applies the same resamples to both systems' counts on the same utterances:
the interval of Δ = B − A, and a two-sided p-value, either from the bootstrap distribution of Δ
shifted to the null (``test="bootstrap"``) or from approximate randomization, swapping the two
systems' counts utterance by utterance (``test="permutation"``). Identical systems give Δ = 0 and
p = 1. A resample where a rate's denominator sums to zero leaves that rate undefined; the
interval is taken over the resamples where it is defined.

The generic functions take per-utterance (numerator, denominator) arrays, so any ratio-of-sums
metric (recall@k: hits over queries; trigger or win rates: a 0/1 outcome over 1) uses the same code.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

import numpy as np

from workbench.errors import InputError
from workbench.metrics.kernel import COLUMNS
from workbench.metrics.options import IntervalConfig
from workbench.metrics.scorer import CorpusScore

Ratios = Mapping[str, tuple[np.ndarray, np.ndarray]]  # metric -> (numerator, denominator) per utterance

_CHUNK = 100  # resamples drawn per block: bounds the weight matrix at 100 × utterances
_TIE = 1e-12  # |Δ*| within this of |Δ| counts as "as extreme" (float sums in another order)


@dataclass(frozen=True)
class Interval:
    """A rate and its bootstrap confidence interval (NaN where the rate is undefined)."""

    value: float
    lo: float
    hi: float


@dataclass(frozen=True)
class Difference:
    """Δ = B − A of one metric on the same utterances: both systems' intervals, Δ's interval, p."""

    a: Interval
    b: Interval
    delta: float
    lo: float
    hi: float
    p: float

    def significant(self, level: float) -> bool:
        return bool(self.p < level)  # NaN (undefined metric) is never significant


@dataclass(frozen=True)
class Comparison:
    """Paired differences of every metric, with the settings that produced them."""

    differences: dict[str, Difference]
    utterances: int
    config: IntervalConfig

    @property
    def level(self) -> float:
        """The significance level matching the intervals' confidence (0.05 for 95 %)."""
        return 1 - self.config.confidence


def count_matrix(corpus: CorpusScore) -> np.ndarray:
    """Each utterance's count row (``COLUMNS``) as an (utterances × columns) int64 array."""
    if corpus.counts is not None:
        rows = [corpus.counts.row(i) for i in range(len(corpus.counts))]
    else:  # scored by ``Scorer.score`` (keep_utterances, cer_spaces)
        rows = [score.count_row() for score in corpus.per_utterance]
    return np.array(rows, dtype=np.int64).reshape(len(rows), len(COLUMNS))


CORPUS_RATES = ("wer", "cer", "mer", "sacc", "pier", "non_poi_rate", "b_wer", "u_wer", "b_cer", "u_cer", "ker",
                "digit_error_rate")  # the rates corpus_ratios gives, in table order


def corpus_ratios(counts: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per-utterance numerator and denominator of each corpus rate of ``CorpusScore.as_metrics``
    (same names), whose sums give exactly the corpus value (``CorpusScore.from_counts``)."""
    c = {name: counts[:, i] for i, name in enumerate(COLUMNS)}

    def errors(prefix: str) -> np.ndarray:
        return c[f"{prefix}_sub"] + c[f"{prefix}_del"] + c[f"{prefix}_ins"]

    has_poi = c["poi_tokens"] > 0  # PIER's non-POI remainder counts the utterances PIER includes
    return {
        "wer": (errors("word"), c["word_tokens"]),
        "cer": (errors("char"), c["char_tokens"]),
        "mer": (errors("mixed"), c["mixed_tokens"]),
        "sacc": ((errors("mixed") == 0).astype(np.int64), np.ones(len(counts), dtype=np.int64)),
        "pier": (c["poi_errors"], c["poi_tokens"]),
        "non_poi_rate": (c["non_poi_errors"] * has_poi, c["non_poi_tokens"] * has_poi),
        "b_wer": (c["bias_word_errors"], c["bias_word_tokens"]),
        "u_wer": (c["unbiased_word_errors"], c["unbiased_word_tokens"]),
        "b_cer": (c["bias_char_errors"], c["bias_char_tokens"]),
        "u_cer": (c["unbiased_char_errors"], c["unbiased_char_tokens"]),
        "ker": (c["keywords_missing"], c["keywords"]),
        "digit_error_rate": (c["digit_errors"], c["digit_tokens"]),
    }


def resample_weights(utterances: int, resamples: int, seed: int) -> Iterator[np.ndarray]:
    """Blocks of bootstrap resamples, each row how often each utterance was drawn (sums to
    ``utterances``); the blocks are the same for the same seed whatever the caller does with them."""
    rng = np.random.default_rng(seed)
    for start in range(0, resamples, _CHUNK):
        block = min(_CHUNK, resamples - start)
        drawn = rng.integers(0, utterances, size=(block, utterances))
        drawn += np.arange(block)[:, None] * utterances  # row r's draws land in row r's bins
        yield np.bincount(drawn.ravel(), minlength=block * utterances).reshape(block, utterances).astype(np.float64)


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(denominator != 0, numerator / np.where(denominator != 0, denominator, 1), np.nan)


def _stacked(ratios: Ratios) -> np.ndarray:
    """(utterances × 2·metrics): the numerators, then the denominators, as floats."""
    columns = [np.asarray(pair[k], dtype=np.float64) for k in (0, 1) for pair in ratios.values()]
    lengths = {len(column) for column in columns}
    if len(lengths) > 1:
        raise InputError(f"per-utterance arrays of different lengths {sorted(lengths)}")
    return np.stack(columns, axis=1)


def _replicates(matrices: list[np.ndarray], config: IntervalConfig) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Point values and bootstrap replicates (resamples × metrics) of the ratios of each matrix
    (all matrices over the same utterances, resampled alike)."""
    utterances = len(matrices[0])
    if utterances == 0:
        raise InputError("no utterances to resample")
    stacked = np.concatenate(matrices, axis=1)
    sums = np.concatenate([weights @ stacked for weights in resample_weights(utterances, config.resamples,
                                                                             config.seed)])
    totals = stacked.sum(axis=0)
    values, replicates, start = [], [], 0
    for matrix in matrices:
        half = matrix.shape[1] // 2
        block = slice(start, start + half), slice(start + half, start + 2 * half)
        values.append(_ratio(totals[block[0]], totals[block[1]]))
        replicates.append(_ratio(sums[:, block[0]], sums[:, block[1]]))
        start += 2 * half
    return values, replicates


def _percentiles(replicates: np.ndarray, value: float, confidence: float) -> tuple[float, float]:
    defined = replicates[~np.isnan(replicates)]
    if np.isnan(value) or not len(defined):
        return float("nan"), float("nan")
    tail = 100 * (1 - confidence) / 2
    lo, hi = np.percentile(defined, [tail, 100 - tail])
    return float(lo), float(hi)


def bootstrap_intervals(ratios: Ratios, config: IntervalConfig = IntervalConfig()) -> dict[str, Interval]:
    """An interval per metric of per-utterance (numerator, denominator) arrays, resampled together."""
    (values,), (replicates,) = _replicates([_stacked(ratios)], config)
    return {name: Interval(float(values[i]), *_percentiles(replicates[:, i], values[i], config.confidence))
            for i, name in enumerate(ratios)}


def paired_differences(a: Ratios, b: Ratios, config: IntervalConfig = IntervalConfig()) -> dict[str, Difference]:
    """Δ = B − A per metric (the metrics of ``a``, all present in ``b``), same utterances in the same
    order: each system's interval, Δ's paired-bootstrap interval and a two-sided p-value."""
    missing = [name for name in a if name not in b]
    if missing:
        raise InputError(f"system B lacks the metric(s) {missing}")
    b = {name: b[name] for name in a}
    matrix_a, matrix_b = _stacked(a), _stacked(b)
    if matrix_a.shape != matrix_b.shape:
        raise InputError(f"the systems cover different utterances ({len(matrix_a)} vs {len(matrix_b)})")
    (value_a, value_b), (rep_a, rep_b) = _replicates([matrix_a, matrix_b], config)
    delta, rep_delta = value_b - value_a, rep_b - rep_a
    p = _permutation_p(matrix_a, matrix_b, delta, config) if config.test == "permutation" else np.array(
        [_shifted_p(rep_delta[:, i], delta[i]) for i in range(len(delta))])
    differences = {}
    for i, name in enumerate(a):
        interval_a = Interval(float(value_a[i]), *_percentiles(rep_a[:, i], value_a[i], config.confidence))
        interval_b = Interval(float(value_b[i]), *_percentiles(rep_b[:, i], value_b[i], config.confidence))
        lo, hi = _percentiles(rep_delta[:, i], delta[i], config.confidence)
        differences[name] = Difference(interval_a, interval_b, float(delta[i]), lo, hi, float(p[i]))
    return differences


def _shifted_p(replicates: np.ndarray, delta: float) -> float:
    """Bootstrap p: how often the replicates, centred on the null, lie as far from 0 as Δ does."""
    defined = replicates[~np.isnan(replicates)]
    if np.isnan(delta) or not len(defined):
        return float("nan")
    extreme = np.count_nonzero(np.abs(defined - delta) >= abs(delta) - _TIE)
    return (1 + extreme) / (1 + len(defined))


def _permutation_p(matrix_a: np.ndarray, matrix_b: np.ndarray, delta: np.ndarray,
                   config: IntervalConfig) -> np.ndarray:
    """Approximate randomization: each utterance's counts swapped between the systems with
    probability ½; p is how often the swapped |Δ| is at least the observed |Δ|."""
    rng = np.random.default_rng([config.seed, 1])  # a stream of its own, apart from the resamples
    half = matrix_a.shape[1] // 2
    gap, total_a, total_b = matrix_b - matrix_a, matrix_a.sum(axis=0), matrix_b.sum(axis=0)
    extreme = np.zeros(len(delta))
    for start in range(0, config.resamples, _CHUNK):
        swaps = rng.integers(0, 2, size=(min(_CHUNK, config.resamples - start), len(gap))).astype(np.float64)
        moved = swaps @ gap
        swapped_a, swapped_b = total_a + moved, total_b - moved
        permuted = _ratio(swapped_b[:, :half], swapped_b[:, half:]) - _ratio(swapped_a[:, :half], swapped_a[:, half:])
        extreme += np.sum(np.abs(permuted) >= np.abs(delta) - _TIE, axis=0)  # NaN compares False
    return np.where(np.isnan(delta), np.nan, (1 + extreme) / (1 + config.resamples))


def corpus_intervals(corpus: CorpusScore, config: IntervalConfig = IntervalConfig()) -> dict[str, Interval]:
    """An interval for every corpus rate of ``corpus`` (``as_metrics`` names)."""
    return bootstrap_intervals(corpus_ratios(count_matrix(corpus)), config)


def compare_corpora(a: CorpusScore, b: CorpusScore, config: IntervalConfig = IntervalConfig()) -> Comparison:
    """Paired differences B − A of every corpus rate; both scored on the same references in order."""
    if a.utterances != b.utterances:
        raise InputError(f"the systems were scored on different utterances ({a.utterances} vs {b.utterances})")
    differences = paired_differences(corpus_ratios(count_matrix(a)), corpus_ratios(count_matrix(b)), config)
    return Comparison(differences, a.utterances, config)


def interval_metrics(intervals: Mapping[str, Interval], names: Iterable[str] | None = None) -> dict[str, float]:
    """``<metric>_ci_lo`` / ``<metric>_ci_hi`` of each defined interval (of ``names`` if given): the
    keys stages write next to ``<metric>`` in metrics.json and MLflow."""
    chosen = intervals if names is None else {n: intervals[n] for n in names if n in intervals}
    out: dict[str, float] = {}
    for name, interval in chosen.items():
        if interval.lo == interval.lo and interval.hi == interval.hi:  # NaN: the rate is undefined
            out[f"{name}_ci_lo"], out[f"{name}_ci_hi"] = interval.lo, interval.hi
    return out


RATIOS_FORMAT = "workbench-ratios/1"


@dataclass(frozen=True)
class UtteranceRatios:
    """Per-item (numerator, denominator) of every rate a run reports, keyed by item id (an
    utterance, a retrieval query, a committed utterance of a replay): what stages write as
    ``ratios.json`` beside metrics.json, so intervals and paired comparisons between any two runs
    are computed later from the same counts (``workbench compare --runs``, the report's Δ columns).
    The names are the run's metric names (``wer``, ``lists/fused/exact@1_recall``)."""

    ids: tuple[str, ...]
    metrics: Mapping[str, tuple[np.ndarray, np.ndarray]]

    def __post_init__(self) -> None:
        if len(set(self.ids)) != len(self.ids):
            raise InputError("per-item ratios: item ids repeat")
        for name, (numerator, denominator) in self.metrics.items():
            if len(numerator) != len(self.ids) or len(denominator) != len(self.ids):
                raise InputError(f"per-item ratios: {name!r} has {len(numerator)}/{len(denominator)} values "
                                 f"for {len(self.ids)} items")

    @classmethod
    def from_corpus(cls, ids: Iterable[str], corpus: CorpusScore, prefix: str = "") -> UtteranceRatios:
        """Every corpus rate of a scored corpus (``ids`` in scoring order), names prefixed."""
        return cls(tuple(ids), {prefix + name: pair for name, pair in corpus_ratios(count_matrix(corpus)).items()})

    def merged(self, *others: UtteranceRatios) -> UtteranceRatios:
        """One set of ratios over the same items (e.g. every condition of one evaluation)."""
        metrics = dict(self.metrics)
        for other in others:
            if set(other.ids) != set(self.ids):
                raise InputError("per-item ratios to merge cover different items")
            position = {item: i for i, item in enumerate(other.ids)}
            order = np.array([position[i] for i in self.ids], dtype=np.int64)
            metrics.update({name: (np.asarray(n)[order], np.asarray(d)[order])
                            for name, (n, d) in other.metrics.items()})
        return UtteranceRatios(self.ids, metrics)

    def select(self, name: str, as_name: str | None = None) -> UtteranceRatios:
        """One metric alone (renamed), e.g. to pair two differently named metrics of two runs."""
        return UtteranceRatios(self.ids, {as_name or name: self.metrics[name]})

    def intervals(self, config: IntervalConfig = IntervalConfig()) -> dict[str, Interval]:
        return bootstrap_intervals(self.metrics, config) if self.metrics and self.ids else {}

    def aligned(self, other: UtteranceRatios, names: Iterable[str]) -> tuple[Ratios, Ratios]:
        """Both runs' ratios of ``names`` over the same items in the same order (for a paired test)."""
        if set(other.ids) != set(self.ids):
            only = sorted(set(self.ids) ^ set(other.ids))
            raise InputError(f"the runs cover different items ({len(self.ids)} vs {len(other.ids)}; "
                             f"e.g. {only[:3]} in one only): a paired comparison needs the same items")
        position = {item: i for i, item in enumerate(other.ids)}
        order = np.array([position[i] for i in self.ids], dtype=np.int64)
        names = [n for n in names if n in self.metrics and n in other.metrics]
        return ({n: self.metrics[n] for n in names},
                {n: (np.asarray(other.metrics[n][0])[order], np.asarray(other.metrics[n][1])[order]) for n in names})

    def to_json(self) -> dict:
        return {"format": RATIOS_FORMAT, "ids": list(self.ids), "metrics": {
            name: {"numerator": np.asarray(n).tolist(), "denominator": np.asarray(d).tolist()}
            for name, (n, d) in self.metrics.items()}}

    @classmethod
    def from_json(cls, data: object, source: str) -> UtteranceRatios:
        """Ratios read back from ``ratios.json``; a clear error naming ``source`` and the field."""
        if not isinstance(data, dict) or data.get("format") != RATIOS_FORMAT:
            raise InputError(f"{source}: not a per-item ratios file (field 'format' is not {RATIOS_FORMAT!r})")
        ids, metrics = data.get("ids"), data.get("metrics")
        if not isinstance(ids, list) or not isinstance(metrics, dict):
            raise InputError(f"{source}: fields 'ids' (a list) and 'metrics' (an object) are required")
        parsed = {}
        for name, pair in metrics.items():
            try:
                parsed[name] = (np.asarray(pair["numerator"], dtype=np.float64),
                                np.asarray(pair["denominator"], dtype=np.float64))
            except (TypeError, KeyError, ValueError):
                raise InputError(f"{source}: field 'metrics.{name}' needs numeric 'numerator' and 'denominator' "
                                 "lists") from None
        try:
            return cls(tuple(str(i) for i in ids), parsed)
        except InputError as error:
            raise InputError(f"{source}: {error}") from None


def compare_ratios(a: UtteranceRatios, b: UtteranceRatios, names: Iterable[str] | None = None,
                   config: IntervalConfig = IntervalConfig()) -> Comparison:
    """Paired differences B − A of the metrics both runs report (or of ``names``), on their items."""
    ratios_a, ratios_b = a.aligned(b, a.metrics if names is None else names)
    if not ratios_a:
        raise InputError("the runs share none of the metrics to compare")
    return Comparison(paired_differences(ratios_a, ratios_b, config), len(a.ids), config)
