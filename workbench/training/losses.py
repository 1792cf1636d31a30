"""Loss parts: the named scalar losses a model or objective returns for one step, weighted by
the training loop (``workbench.training.loop``) and logged one by one (icefall's ``compute_loss``,
torchtune's loss dicts). Every trainer of the workbench takes its losses in this form."""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import torch
from torch import Tensor


@dataclass(frozen=True, eq=False)
class LossParts(Mapping[str, Tensor]):
    """Named scalar losses of one step (icefall/torchtune style: the model returns parts, the trainer weights them).

    ``LossParts({"wce": wce, "infonce": nce}).total({"wce": 1.0, "infonce": 0.5})``. Read-only
    mapping of name -> 0-dim tensor; ``as_floats()`` gives the detached values for logging.
    """

    parts: Mapping[str, Tensor] = field(default_factory=dict)

    def __post_init__(self) -> None:
        parts = dict(self.parts)
        for name, value in parts.items():
            if not isinstance(value, Tensor) or value.ndim != 0:
                raise ValueError(f"loss part {name!r} must be a scalar (0-dim) tensor, got {type(value).__name__}"
                                 + (f" of shape {tuple(value.shape)}" if isinstance(value, Tensor) else ""))
        object.__setattr__(self, "parts", MappingProxyType(parts))

    def __getitem__(self, name: str) -> Tensor:
        return self.parts[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.parts)

    def __len__(self) -> int:
        return len(self.parts)

    def __repr__(self) -> str:
        return f"LossParts({', '.join(f'{k}={v.item():.4g}' for k, v in self.parts.items())})"

    def total(self, weights: Mapping[str, float]) -> Tensor:
        """Σ_name weights[name] · parts[name], the tensor to call ``backward()`` on.

        A weight naming a missing part is a ``KeyError`` (a misspelt or forgotten loss must not
        silently train without it). Parts without a weight, or with weight 0, are left out of
        the sum (computed for logging only) and not even multiplied, so a NaN in a logged-only
        part cannot leak into the gradient. Negative weights are errors (every part is a loss).
        """
        missing = sorted(set(weights) - set(self.parts))
        if missing:
            raise KeyError(f"weights name loss part(s) {missing} that were not computed; parts: {sorted(self.parts)}")
        negative = sorted(name for name, w in weights.items() if w < 0)
        if negative:
            raise ValueError(f"negative loss weight(s) for {negative}")
        terms = [self.parts[name] * float(w) for name, w in weights.items() if w != 0]
        if not terms:
            raise ValueError("no loss part has a non-zero weight: nothing to optimize")
        return functools.reduce(torch.add, terms)

    def as_floats(self) -> dict[str, float]:
        """Detached Python floats, for the logger."""
        return {name: float(value.detach().item()) for name, value in self.parts.items()}
