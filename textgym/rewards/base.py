"""The reward protocol: a batched callable, one float per sample."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np

from textgym.errors import RewardError
from textgym.rewards.batch_checks import check_lengths


@runtime_checkable
class RewardFunction(Protocol):
    """A batched reward.

    Called with equally long sequences: ``generations[i]`` is scored against
    ``references[i]`` (one or more reference strings) and ``sources[i]`` (the input text).
    Returns one finite float per sample; the caller checks the length (see :func:`score`).
    The same call works on partial generations, which is what a dense (per-token) mode uses.
    """

    name: str

    def __call__(
        self,
        generations: Sequence[str],
        references: Sequence[Sequence[str]],
        sources: Sequence[str],
    ) -> Sequence[float] | np.ndarray:
        """Score each generation; one float per sample."""
        ...


class Reward:
    """Optional base class for rewards: gives a ``name`` and a default ``score_components``.

    Subclasses implement ``__call__``. A reward made of parts (e.g. a weighted sum)
    overrides ``score_components`` to return its total and each named part.
    """

    name: str = "reward"

    def __call__(
        self,
        generations: Sequence[str],
        references: Sequence[Sequence[str]],
        sources: Sequence[str],
    ) -> np.ndarray:
        """Score each generation; one float per sample."""
        raise NotImplementedError

    def score_components(
        self,
        generations: Sequence[str],
        references: Sequence[Sequence[str]],
        sources: Sequence[str],
    ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Return the total per sample and a dict of named parts (empty for a plain reward)."""
        return np.asarray(self(generations, references, sources), dtype=np.float64), {}


def score(
    reward: RewardFunction,
    generations: Sequence[str],
    references: Sequence[Sequence[str]],
    sources: Sequence[str],
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Call ``reward`` and check its output: one finite float per generation.

    Returns:
        ``(total, parts)``: ``total`` has shape ``(n,)``; ``parts`` maps each named part
        (if the reward has any) to an array of the same shape.

    Raises:
        RewardError: not one reference list and one source per generation, or the reward
            returned the wrong number of values, the wrong shape, or a NaN/inf value.
    """
    name = getattr(reward, "name", type(reward).__name__)
    check_lengths(name, generations, references, sources)
    n = len(generations)
    components = getattr(reward, "score_components", None)
    if callable(components):
        total, parts = components(generations, references, sources)
    else:
        total, parts = reward(generations, references, sources), {}
    checked = {key: _check(values, n, f"{name}[{key}]") for key, values in parts.items()}
    return _check(total, n, name), checked


def _check(values: Sequence[float] | np.ndarray, n: int, name: str) -> np.ndarray:
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise RewardError(
            f"Reward {name!r} returned {type(values).__name__}, which is not a sequence of "
            f"floats. Return one float per generation (a list or a 1-D array)."
        ) from exc
    if arr.shape != (n,):
        raise RewardError(
            f"Reward {name!r} returned shape {arr.shape} for {n} generations; "
            f"return exactly one float per generation, in order."
        )
    if not np.all(np.isfinite(arr)):
        bad = int(np.flatnonzero(~np.isfinite(arr))[0])
        raise RewardError(
            f"Reward {name!r} returned {arr[bad]} for sample {bad}; rewards must be finite. "
            f"Guard empty generations or divisions by zero in the reward."
        )
    return arr
