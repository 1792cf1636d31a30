"""A retriever experiment = one row of a seed's retrieval table (``experiments/retrieval/*.yaml``).

    name: clar_full
    label: "L_global + L_local + L_CIF"   # the row as the seed prints it
    table: clar                            # clar (seed 000 Table 1), glclap (seed 001 Tables 1-2), clsr
    row: 3
    method: clar                           # glclap | clar | clsr
    losses: {global: 1.0, local: 1.0, quantity: 1.0}
    cif_pretrain_epochs: 2                 # seed 000's stage 1: the CIF quantity loss alone
    rada: false                            # seed 001: RADA clips as training data, RADA-filtered distractors
    fuzzy: false                           # seed 001: fuzzy variants as local training text

Shared hyperparameters (encoders, epochs, learning rate) live in params.yaml's
``train_retriever`` section; ``architecture`` here overrides single fields of it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from workbench.config import ConfigError
from workbench.config.loading import load_experiment_file
from workbench.retrieval.models import METHODS

LOSSES = {"glclap": ("global", "local"), "clar": ("global", "local", "quantity"), "clsr": ("asr", "quantity", "global")}


@dataclass(frozen=True)
class RetrieverExperiment:
    name: str
    method: str
    label: str = ""
    table: str = ""
    row: int = 0
    losses: dict = field(default_factory=lambda: {"global": 1.0})
    cif_pretrain_epochs: int = 0
    rada: bool = False
    fuzzy: bool = False
    architecture: dict = field(default_factory=dict)  # overrides of train_retriever.architecture

    def validate(self, where: str) -> None:
        if self.method not in METHODS:
            raise ConfigError(f"{where}: method must be one of {list(METHODS)}, got {self.method!r}")
        known = LOSSES[self.method]
        unknown = sorted(set(self.losses) - set(known))
        if unknown:
            raise ConfigError(f"{where}: losses: {unknown} are not losses of {self.method} (known: {list(known)})")
        if not any(w > 0 for w in self.losses.values()) or any(w < 0 for w in self.losses.values()):
            raise ConfigError(f"{where}: losses: give non-negative weights, at least one positive")
        if self.cif_pretrain_epochs < 0:
            raise ConfigError(f"{where}: cif_pretrain_epochs must be >= 0")
        if self.cif_pretrain_epochs and self.losses.get("quantity", 0) <= 0:
            raise ConfigError(f"{where}: cif_pretrain_epochs needs a positive quantity loss weight")


def load_retriever_experiment(path: Path | str) -> RetrieverExperiment:
    return load_experiment_file(RetrieverExperiment, path, required=("name", "method"))
