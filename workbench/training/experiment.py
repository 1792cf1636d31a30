"""One experiment = one row of a seed's table: which losses, with which weights, on which negatives.

An experiment YAML (``experiments/cs_nmg/<name>.yaml``) holds only what distinguishes the row;
the shared training hyperparameters (LoRA, optimizer, epochs, profile) live in params.yaml's
``train_asr`` section. Unknown keys and out-of-range values are errors naming the file and key.

    name: wce_cl_trilevel
    table: 2                      # the seed table this row belongs to (for reports)
    label: "WCE + CL (tri-level)" # the row label as the seed prints it
    losses: {wce: 1.0, infonce: 0.5}
    poi_weight: 2.0               # WCE's λ_poi (Eq. 7)
    tau: 0.1                      # InfoNCE temperature (Eq. 10)
    negatives:
      sources: [nbest, llm]       # pool candidates allowed as negatives
      gate: acoustic+phoneme+text # a gate of seed 003 Table 3 (workbench.nearmiss.gate.TABLE3_GATES)
      count: 4                    # negatives per utterance (the fixed selection policy picks them)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from workbench.config.loading import load_experiment_file
from workbench.nearmiss.gate import TABLE3_GATES

LOSSES = ("ce", "wce", "mwer", "infonce")


@dataclass(frozen=True)
class LossWeights(Mapping[str, float]):
    """The ``losses:`` section: the weight of each loss the row trains with. A loss left out is
    not computed; weight 0 computes and logs it without training on it. Read as a mapping of the
    losses given (what ``LossParts.total`` weights), in field order: the order the weighted terms
    are summed, which is the experiment files' order, so their results stay bit for bit."""

    KEY_NAME: ClassVar[str] = "loss"  # the loader's word for a key: "unknown loss(es) [...]"

    mwer: float | None = None  # seed 003 Eq. 11: expected word errors over the N-best
    ce: float | None = None  # cross-entropy on the reference
    wce: float | None = None  # POI-weighted cross-entropy (Eq. 7)
    infonce: float | None = None  # contrast of the reference against its near-misses (Eq. 10)

    def __post_init__(self) -> None:
        if not self:
            raise ValueError(f"give at least one loss with its weight; known: {list(LOSSES)}")
        negative = [name for name, weight in self.items() if weight < 0]
        if negative:
            raise ValueError(f"weights must be >= 0, got {negative}")
        if "ce" in self and "wce" in self:
            raise ValueError("ce and wce are alternatives (WCE with poi_weight 1 is CE)")

    def _given(self) -> dict[str, float]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if getattr(self, f.name) is not None}

    def __getitem__(self, name: str) -> float:
        return self._given()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._given())

    def __len__(self) -> int:
        return len(self._given())


@dataclass(frozen=True)
class NegativesConfig:
    sources: tuple[str, ...] = ("nbest", "llm")  # which candidate sources may give negatives
    gate: str = "acoustic+phoneme+text"  # one of TABLE3_GATES
    count: int = 4  # negatives per utterance (seed 003's near-miss count)


@dataclass(frozen=True)
class ExperimentConfig:
    name: str
    label: str = ""  # row label in the seed's table
    table: int = 2  # seed 003 table number (2: losses, 3: gate/source ablations; 0: baseline)
    row: int = 0  # position of the row in that table, as the seed orders them
    losses: LossWeights = field(default_factory=lambda: LossWeights(ce=1.0))  # a file's section replaces it whole
    poi_weight: float = 2.0  # WCE: weight of POI tokens (Eq. 7); 1 = CE
    tau: float = 0.1  # InfoNCE temperature (Eq. 10)
    negatives: NegativesConfig = NegativesConfig()

    def __post_init__(self) -> None:
        if self.poi_weight < 1.0:
            raise ValueError(f"poi_weight must be >= 1 (POI tokens are up-weighted), got {self.poi_weight}")
        if self.tau <= 0:
            raise ValueError(f"tau must be > 0, got {self.tau}")
        if self.negatives.gate not in TABLE3_GATES:
            raise ValueError(f"negatives.gate {self.negatives.gate!r} unknown; known: {list(TABLE3_GATES)}")
        bad = sorted(set(self.negatives.sources) - {"nbest", "llm", "phonetic"})
        if bad:
            raise ValueError(f"negatives.sources: unknown source(s) {bad}")
        if self.negatives.count < 1:
            raise ValueError(f"negatives.count must be >= 1, got {self.negatives.count}")

    @property
    def uses_negatives(self) -> bool:
        return self.losses.get("infonce", 0) > 0

    @property
    def uses_nbest(self) -> bool:
        return self.losses.get("mwer", 0) > 0

    def as_params(self) -> dict:
        """The experiment as tracking params: ``losses`` lists the losses given, as the file does."""
        return {**dataclasses.asdict(self), "losses": dict(self.losses)}


def load_experiment(path: Path | str) -> ExperimentConfig:
    return load_experiment_file(ExperimentConfig, path)
