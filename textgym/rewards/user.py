"""Wrap a plain user function as a reward."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from textgym.errors import ConfigError, RewardError
from textgym.rewards.base import Reward


class CallableReward(Reward):
    """A reward from a function ``fn(generations, references, sources) -> floats``.

    The function gets the whole batch and returns one float per generation (a list or a 1-D
    array). To run in ``SubprocVecEnv`` workers the reward must pickle, so ``fn`` must be a
    module-level function or an instance of a module-level class: a lambda or a function
    defined inside another function (a closure) will not pickle. It is taken to read
    references unless ``fn.needs_references`` is False, which lets it train on prompt-only
    datasets.

    Args:
        fn: The batched function.
        name: The reward's name (default ``fn.__name__``, or its class name).

    Raises:
        ConfigError: ``fn`` is not callable.
    """

    def __init__(
        self,
        fn: Callable[[Sequence[str], Sequence[Sequence[str]], Sequence[str]], Any],
        name: str | None = None,
    ) -> None:
        if not callable(fn):
            raise ConfigError(
                f"CallableReward needs a function fn(generations, references, sources); got "
                f"{type(fn).__name__}."
            )
        self.fn = fn
        self.name = name or getattr(fn, "__name__", type(fn).__name__).strip("<>")
        self.needs_references = bool(getattr(fn, "needs_references", True))

    def __call__(
        self,
        generations: Sequence[str],
        references: Sequence[Sequence[str]],
        sources: Sequence[str],
    ) -> np.ndarray:
        """Call ``fn`` and return its values as a float64 array."""
        values = self.fn(generations, references, sources)
        try:
            return np.asarray(values, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise RewardError(
                f"Reward {self.name!r} returned {type(values).__name__}, which is not a "
                f"sequence of floats. Return one float per generation (a list or a 1-D array)."
            ) from exc

    def __repr__(self) -> str:
        return f"CallableReward({self.fn!r}, name={self.name!r})"
