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

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from workbench.config import ConfigError
from workbench.config.loading import build_config  # the same strict builder params.yaml goes through
from workbench.nearmiss.gate import TABLE3_GATES

LOSSES = ("ce", "wce", "mwer", "infonce")


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
    losses: dict = field(default_factory=lambda: {"ce": 1.0})  # loss name -> weight
    poi_weight: float = 2.0  # WCE: weight of POI tokens (Eq. 7); 1 = CE
    tau: float = 0.1  # InfoNCE temperature (Eq. 10)
    negatives: NegativesConfig = NegativesConfig()

    def validate(self, where: str) -> None:
        unknown = sorted(set(self.losses) - set(LOSSES))
        if unknown:
            raise ConfigError(f"{where}: losses: unknown loss(es) {unknown}; known: {list(LOSSES)}")
        if not self.losses or any(not isinstance(w, (int, float)) or w < 0 for w in self.losses.values()):
            raise ConfigError(f"{where}: losses: give at least one loss with a non-negative numeric weight")
        if "ce" in self.losses and "wce" in self.losses:
            raise ConfigError(f"{where}: losses: ce and wce are alternatives (WCE with poi_weight 1 is CE)")
        if self.poi_weight < 1.0:
            raise ConfigError(f"{where}: poi_weight must be >= 1 (POI tokens are up-weighted), got {self.poi_weight}")
        if self.tau <= 0:
            raise ConfigError(f"{where}: tau must be > 0, got {self.tau}")
        if self.negatives.gate not in TABLE3_GATES:
            raise ConfigError(f"{where}: negatives.gate {self.negatives.gate!r} unknown; known: {list(TABLE3_GATES)}")
        bad = sorted(set(self.negatives.sources) - {"nbest", "llm", "phonetic"})
        if bad:
            raise ConfigError(f"{where}: negatives.sources: unknown source(s) {bad}")
        if self.negatives.count < 1:
            raise ConfigError(f"{where}: negatives.count must be >= 1, got {self.negatives.count}")

    @property
    def uses_negatives(self) -> bool:
        return self.losses.get("infonce", 0) > 0

    @property
    def uses_nbest(self) -> bool:
        return self.losses.get("mwer", 0) > 0


def load_experiment(path: Path | str) -> ExperimentConfig:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"experiment file {path} not found")
    try:
        values = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: not valid YAML: {error}") from error
    if not isinstance(values, dict) or "name" not in values:
        raise ConfigError(f"{path}: an experiment is a mapping with at least a 'name'")
    experiment = build_config(ExperimentConfig, values, str(path))
    experiment.validate(str(path))
    if experiment.name != path.stem:
        raise ConfigError(f"{path}: name {experiment.name!r} must equal the file name {path.stem!r} (DVC keys runs by it)")
    return experiment
