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
    hard_negatives: 0                      # k sound-alike words per hotword as extra local-loss negatives

Shared hyperparameters (encoders, epochs, learning rate) live in params.yaml's
``train_retriever`` section; ``architecture`` here overrides single fields of it
(``RetrieverExperiment.architecture_over``). Both sections are typed (``LossWeights``,
``ArchitectureOverrides``) and checked when the file is read, naming the file.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from workbench.config.loading import load_experiment_file
from workbench.retrieval.models import METHODS, ArchitectureConfig

# the loss parts each method returns, in the order their weighted sum adds them
LOSSES = {"glclap": ("global", "local"), "clar": ("global", "local", "quantity"), "clsr": ("asr", "quantity", "global")}
PARTS = ("global", "local", "quantity", "asr")


@dataclass(frozen=True)
class LossWeights:
    """The YAML's ``losses:``: a weight per loss part (0: the part is computed but not trained).
    YAML keys are the part names; ``global`` is a Python keyword, so its field is ``global_``."""

    global_: float = 0.0  # utterance against sentence (InfoNCE)
    local: float = 0.0  # utterance (CLAR: its aligned frames) against the hotword or a cropped phrase
    quantity: float = 0.0  # CIF quantity loss (CLAR, CLSR)
    asr: float = 0.0  # CLSR's non-autoregressive decoder cross-entropy

    def __post_init__(self) -> None:
        weights = self.parts(PARTS, positive_only=False).values()
        if any(isinstance(w, bool) or not isinstance(w, (int, float)) for w in weights):
            raise ValueError(f"losses: weights are numbers, got {self.parts(PARTS, positive_only=False)}")
        if not any(w > 0 for w in weights) or any(w < 0 for w in weights):
            raise ValueError("losses: give non-negative weights, at least one positive")

    @classmethod
    def from_parts(cls, weights: Mapping[str, float]) -> LossWeights:
        """From the YAML mapping part name -> weight."""
        if not isinstance(weights, Mapping):
            raise ValueError(f"losses: expected a mapping of loss part to weight, got {weights!r}")
        unknown = sorted(set(weights) - set(PARTS))
        if unknown:
            raise ValueError(f"losses: {unknown} are not loss parts (known: {list(PARTS)})")
        return cls(**{_field_of(name): weight for name, weight in weights.items()})

    def parts(self, order: Sequence[str], positive_only: bool = True) -> dict[str, float]:
        """Part name -> weight, in ``order`` (the order the trainer sums them in)."""
        weights = {name: getattr(self, _field_of(name)) for name in order}
        return {name: w for name, w in weights.items() if w > 0} if positive_only else weights


def _field_of(part: str) -> str:
    return "global_" if part == "global" else part


def _all_optional(config_class: type, name: str, doc: str) -> type:
    """A frozen dataclass with the fields of ``config_class``, each optional (None: not set)."""
    hints = typing.get_type_hints(config_class)
    overrides = dataclasses.make_dataclass(
        name, [(f.name, hints[f.name] | None, None) for f in dataclasses.fields(config_class)], frozen=True,
        namespace={"given": lambda self: {k: v for k, v in dataclasses.asdict(self).items() if v is not None}},
    )
    overrides.__module__, overrides.__doc__ = __name__, doc
    return overrides


ArchitectureOverrides = _all_optional(
    ArchitectureConfig, "ArchitectureOverrides",
    "The YAML's ``architecture:``: fields of ``train_retriever.architecture`` this experiment sets "
    "(None: params.yaml's value); ``given()`` is the mapping of those set.",
)


@dataclass(frozen=True)
class RetrieverExperiment:
    name: str
    method: str
    label: str = ""
    table: str = ""
    row: int = 0
    # the YAML mapping part -> weight, held as LossWeights once constructed
    losses: Mapping[str, float] | LossWeights = field(default_factory=lambda: LossWeights(global_=1.0))
    cif_pretrain_epochs: int = 0
    rada: bool = False
    fuzzy: bool = False
    hard_negatives: int = 0  # k phonetic neighbours of each training hotword as extra negatives (0: in-batch only)
    architecture: ArchitectureOverrides = field(default_factory=ArchitectureOverrides)

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {list(METHODS)}, got {self.method!r}")
        if not isinstance(self.losses, LossWeights):
            object.__setattr__(self, "losses", LossWeights.from_parts(self.losses))
        known = LOSSES[self.method]
        unknown = [part for part in self.losses.parts(PARTS) if part not in known]
        if unknown:
            raise ValueError(f"losses: {unknown} are not losses of {self.method} (known: {list(known)})")
        if self.cif_pretrain_epochs < 0:
            raise ValueError("cif_pretrain_epochs must be >= 0")
        if self.cif_pretrain_epochs and self.losses.quantity <= 0:
            raise ValueError("cif_pretrain_epochs needs a positive quantity loss weight")
        if self.hard_negatives < 0:
            raise ValueError(f"hard_negatives must be >= 0, got {self.hard_negatives}")
        if self.hard_negatives and self.losses.local <= 0:
            raise ValueError("hard_negatives are negatives of the local loss: give it a positive weight")
        try:  # every architecture check is per field: valid over the defaults is valid over any base
            self.architecture_over(ArchitectureConfig())
        except ValueError as error:
            raise ValueError(f"architecture: {error}") from None

    def validate(self, where: str) -> None:
        """``load_experiment_file``'s hook; everything is checked on construction (``__post_init__``)."""

    def loss_weights(self) -> dict[str, float]:
        """Part name -> positive weight, in the order the method's trainer sums them."""
        return self.losses.parts(LOSSES[self.method])

    def architecture_over(self, base: ArchitectureConfig) -> ArchitectureConfig:
        """``base`` (params.yaml's ``train_retriever.architecture``) with this experiment's fields set."""
        return dataclasses.replace(base, **self.architecture.given())

    def params(self) -> dict:
        """The experiment as its YAML writes it (what the training run logs as ``experiment.*``)."""
        values = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        return {**values, "losses": self.loss_weights(), "architecture": self.architecture.given()}


def load_retriever_experiment(path: Path | str) -> RetrieverExperiment:
    return load_experiment_file(RetrieverExperiment, path, required=("name", "method"))
