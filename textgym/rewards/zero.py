"""A reward that is always zero, for envs whose real reward is paid outside them."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from textgym.rewards.base import Reward


class ZeroReward(Reward):
    """Return 0.0 for every sample (registered as ``"none"``).

    Use it as the env's reward when the real reward is computed elsewhere, e.g. once per
    vectorised step by :class:`textgym.env.vec_reward.VecRewardWrapper`, which batches all the
    episodes that ended together. References and sources are not read.

    Args:
        name: The reward's name (default ``"none"``).
    """

    needs_references = False

    def __init__(self, name: str = "none") -> None:
        self.name = name

    def __call__(
        self,
        generations: Sequence[str],
        references: Sequence[Sequence[str]],
        sources: Sequence[str],
    ) -> np.ndarray:
        """Return zeros, shape ``(n,)``."""
        return np.zeros(len(generations), dtype=np.float64)

    def __repr__(self) -> str:
        return f"ZeroReward(name={self.name!r})"
