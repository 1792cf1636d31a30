"""How text is normalized and which tokens are POIs when a stage scores hypotheses, and how
uncertain the corpus metrics are (bootstrap intervals, paired tests)."""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_NORMALIZATION = ("width", "simplified", "basic", "spaces")  # = workbench.text.normalize.DEFAULT_STEPS


@dataclass(frozen=True)
class ScoreConfig:
    normalization: tuple[str, ...] = DEFAULT_NORMALIZATION
    poi_neighbourhood: int = 0  # ±k tokens around embedded-language spans also count as POIs (PIER)
    embedded_language: str = "en"  # language of the POI spans found by token-level language ID
    cer_spaces: bool = False  # count spaces between words in CER (jiwer's CER); default characters only
    empty_reference: str = "undefined"  # WER/CER/MER without reference tokens: NaN, or "errors" (jiwer's)

    def __post_init__(self):
        if self.poi_neighbourhood < 0:
            raise ValueError(f"score.poi_neighbourhood must be >= 0, got {self.poi_neighbourhood}")
        if self.empty_reference not in ("undefined", "errors"):
            raise ValueError(f"score.empty_reference must be 'undefined' or 'errors', got {self.empty_reference!r}")


@dataclass(frozen=True)
class IntervalConfig:
    """Bootstrap over utterances for confidence intervals, and the paired test between two systems."""

    resamples: int = 1000
    seed: int = 0
    confidence: float = 0.95  # interval coverage; a difference is significant when p < 1 - confidence
    test: str = "bootstrap"  # p-value of a paired difference: "bootstrap" (shifted) or "permutation"

    def __post_init__(self):
        if self.resamples < 1:
            raise ValueError(f"intervals.resamples must be >= 1, got {self.resamples}")
        if self.seed < 0:
            raise ValueError(f"intervals.seed must be >= 0, got {self.seed}")
        if not 0 < self.confidence < 1:
            raise ValueError(f"intervals.confidence must be in (0, 1), got {self.confidence}")
        if self.test not in PAIRED_TESTS:
            raise ValueError(f"intervals.test must be one of {PAIRED_TESTS}, got {self.test!r}")


PAIRED_TESTS = ("bootstrap", "permutation")


@dataclass(frozen=True)
class CompareConfig:
    """``workbench compare``: how both systems are scored, and the intervals and test between them."""

    score: ScoreConfig = ScoreConfig()
    intervals: IntervalConfig = IntervalConfig()
