"""Settings of the Whisper decoding stages (params.yaml sections ``evaluate``, ``nbest``,
``eval_asr``), checked when built so a bad value is a config error before any model loads."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field

from workbench.config.models import WHISPER
from workbench.metrics.options import IntervalConfig, ScoreConfig
from workbench.tracking.options import TrackingConfig


def _check_batch_size(batch_size: int) -> None:
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")


@dataclass(frozen=True)
class EvaluateConfig:
    model: str = WHISPER  # openai-whisper checkpoint path
    batch_size: int = 8  # clips per encoder/decoder batch
    beam_size: int | None = None  # None: greedy decoding
    temperature_fallback: bool = True  # whisper.transcribe's re-decoding of repetitive/unlikely outputs
    language: str | None = "manifest"  # "manifest": each utterance's language; null: detect; or a code
    score: ScoreConfig = ScoreConfig()  # normalization and POI settings of the metrics
    # test set name (the stage's --name) -> its normalization chain, replacing score.normalization
    # (e.g. Whisper's English normalizer for an English-only set without hotword spans)
    normalization_by_test_set: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    intervals: IntervalConfig = IntervalConfig()  # bootstrap over utterances: <metric>_ci_lo/_ci_hi
    device: str = "cpu"
    threads: int | None = None  # torch CPU threads (None: torch's default)
    tracking: TrackingConfig = TrackingConfig(experiment="baseline")

    def __post_init__(self) -> None:
        _check_batch_size(self.batch_size)
        if self.beam_size is not None and self.beam_size < 1:
            raise ValueError(f"beam_size must be at least 1 (or null: greedy), got {self.beam_size}")
        from workbench.text.normalize import NORMALIZERS  # the known steps, checked before any model loads

        chains = {}
        for name, chain in (self.normalization_by_test_set or {}).items():
            if isinstance(chain, str) or not all(isinstance(step, str) for step in chain):
                raise ValueError(f"normalization_by_test_set.{name} must be a list of step names, got {chain!r}")
            unknown = [step for step in chain if step not in NORMALIZERS]
            if unknown:
                raise ValueError(f"normalization_by_test_set.{name}: unknown step(s) {unknown}; known: "
                                 f"{sorted(NORMALIZERS)}")
            chains[str(name)] = tuple(chain)
        object.__setattr__(self, "normalization_by_test_set", chains)

    def score_for(self, test_set: str) -> ScoreConfig:
        """The scoring settings of a test set: its declared normalization chain, else ``score``'s."""
        chain = self.normalization_by_test_set.get(test_set)
        return self.score if chain is None else dataclasses.replace(self.score, normalization=chain)


@dataclass(frozen=True)
class NBestConfig:
    model: str = WHISPER  # openai-whisper checkpoint path
    batch_size: int = 8  # clips per batch (the beam multiplies the decoder batch)
    beam_size: int = 5
    n_best: int = 5  # hypotheses kept per clip (<= beam_size * patience)
    patience: float | None = None
    length_penalty: float | None = None
    max_tokens_per_second: float | None = 15.0  # cap on tokens per clip second (+10), against loops
    language: str | None = "manifest"  # "manifest": each utterance's language; null: detect; or a code
    device: str = "cpu"
    threads: int | None = None

    def __post_init__(self) -> None:
        _check_batch_size(self.batch_size)
        if self.beam_size < 1:
            raise ValueError(f"beam_size must be at least 1, got {self.beam_size}")
        if self.patience is not None and self.patience <= 0:
            raise ValueError(f"patience must be > 0 (or null), got {self.patience}")
        candidates = round(self.beam_size * (self.patience or 1.0))
        if not 1 <= self.n_best <= candidates:  # beam search finishes at most that many candidates
            raise ValueError(f"n_best must be between 1 and beam_size * patience = {candidates}, got {self.n_best}")
        if self.max_tokens_per_second is not None and self.max_tokens_per_second <= 0:
            raise ValueError(f"max_tokens_per_second must be > 0 (or null: no cap), got {self.max_tokens_per_second}")


@dataclass(frozen=True)
class EvalASRConfig:
    model: str = WHISPER  # base checkpoint the adapter was trained on
    batch_size: int = 8  # clips per greedy decoding batch
    score: ScoreConfig = ScoreConfig()
    intervals: IntervalConfig = IntervalConfig()  # bootstrap over utterances: <metric>_ci_lo/_ci_hi
    device: str = "cpu"
    threads: int | None = None
    tracking: TrackingConfig = TrackingConfig(experiment="cs_nmg")

    def __post_init__(self) -> None:
        _check_batch_size(self.batch_size)
