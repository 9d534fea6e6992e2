"""A weighted sum of rewards, reporting each part."""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from textgym.errors import ConfigError
from textgym.rewards.base import Reward, RewardFunction
from textgym.rewards.references import needs_references
from textgym.rewards.registry import make_single_reward


class WeightedSum(Reward):
    """``total[i] = sum_k weight_k * part_k[i]``, with each part available unweighted.

    Example: ``WeightedSum({"rougeL": 0.7, "chrf": 0.3})``. Parts are registered reward
    names, ``"evaluate:PATH"`` or ``"rm:PATH"`` strings (not weighted-sum specs), or reward
    objects with a ``name``. Weights may be negative (a penalty) but must be finite numbers.

    Args:
        weights: Mapping of part (name or reward object) to weight; not empty.
        name: The reward's name.

    Raises:
        ConfigError: the mapping is empty, a weight is not a finite number, or two parts
            share a name.
    """

    def __init__(
        self, weights: Mapping[str | RewardFunction, float], name: str = "weighted_sum"
    ) -> None:
        if not isinstance(weights, Mapping) or len(weights) == 0:
            raise ConfigError(
                f"WeightedSum needs a non-empty mapping of reward to weight; got {weights!r}. "
                f"Pass e.g. {{'rougeL': 0.7, 'chrf': 0.3}}."
            )
        self.name = name
        self.parts: dict[str, RewardFunction] = {}
        self.weights: dict[str, float] = {}
        for spec, weight in weights.items():
            part = make_single_reward(spec)
            part_name = str(getattr(part, "name", spec))
            if not _is_finite_number(weight):
                raise ConfigError(
                    f"WeightedSum weight for {part_name!r} is {weight!r}; weights must be finite "
                    f"numbers (e.g. 0.5, or -0.1 for a penalty)."
                )
            if part_name in self.parts:
                raise ConfigError(
                    f"WeightedSum has two parts named {part_name!r}; give the reward objects "
                    f"distinct `name` attributes."
                )
            self.parts[part_name] = part
            self.weights[part_name] = float(weight)

    @property
    def needs_references(self) -> bool:
        """Whether any part scores against references."""
        return any(needs_references(part) for part in self.parts.values())

    def __call__(
        self,
        generations: Sequence[str],
        references: Sequence[Sequence[str]],
        sources: Sequence[str],
    ) -> np.ndarray:
        """Return the weighted sum per sample, shape ``(n,)``."""
        return self.score_components(generations, references, sources)[0]

    def score_components(
        self,
        generations: Sequence[str],
        references: Sequence[Sequence[str]],
        sources: Sequence[str],
    ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Return the weighted total and each part's unweighted values, by part name."""
        values = {
            key: np.asarray(part(generations, references, sources), dtype=np.float64)
            for key, part in self.parts.items()
        }
        total = np.zeros(len(generations), dtype=np.float64)
        for key, value in values.items():
            total = total + self.weights[key] * value
        return total, values

    def __repr__(self) -> str:
        inner = ", ".join(f"{key!r}: {w}" for key, w in self.weights.items())
        return f"WeightedSum({{{inner}}})"


def _is_finite_number(value: Any) -> bool:
    return (
        isinstance(value, numbers.Real)
        and not isinstance(value, bool)
        and math.isfinite(float(value))
    )
