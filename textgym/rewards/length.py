"""A length reward: 1.0 near a target word count, falling linearly to 0 away from it."""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

import numpy as np

from textgym.errors import ConfigError
from textgym.rewards.base import Reward
from textgym.rewards.batch_checks import check_batch, check_lengths


class LengthPenalty(Reward):
    """Reward a generation for having about the right number of words.

    Words are whitespace-separated tokens (``len(text.split())``). With ``n`` the
    generation's word count and ``T`` the target::

        lo = (1 - tolerance) * T
        hi = (1 + tolerance) * T
        reward = 1                                  if lo <= n <= hi
        reward = max(0, 1 - (lo - n) / (decay * T)) if n < lo
        reward = max(0, 1 - (n - hi) / (decay * T)) if n > hi

    so the reward is 1 inside the band and reaches 0 at ``decay * T`` words beyond either
    edge. ``T`` is ``target_words``, or ``target_ratio`` times a reference's word count; with
    several references the best (closest) one counts. An empty generation, or ``T == 0``
    (an empty reference), scores 0.0. With ``target_words`` references are not read, so
    the reward works on prompt-only datasets.

    Example: ``T = 10``, ``tolerance = 0.2``, ``decay = 0.5``: 8 to 12 words score 1.0,
    6 words score ``1 - 2/5 = 0.6``, 15 words score ``1 - 3/5 = 0.4``, 3 or 17 words score 0.

    Args:
        target_words: A fixed target word count (> 0).
        target_ratio: The target as a multiple of the reference's word count (> 0). Used
            when ``target_words`` is not given; if neither is given, ``1.0``.
        tolerance: Half-width of the full-reward band, as a fraction of ``T`` (>= 0).
        decay: Width of the linear fall-off on each side, as a fraction of ``T`` (> 0).

    Raises:
        ConfigError: both targets given, or a value out of range or not finite.
    """

    name = "length"

    def __init__(
        self,
        target_words: float | None = None,
        target_ratio: float | None = None,
        tolerance: float = 0.2,
        decay: float = 0.5,
    ) -> None:
        if target_words is not None and target_ratio is not None:
            raise ConfigError(
                f"LengthPenalty got target_words={target_words} and target_ratio={target_ratio}; "
                f"give one: a fixed word count, or a multiple of the reference length."
            )
        if target_words is None and target_ratio is None:
            target_ratio = 1.0
        for arg, value, low_ok in (
            ("target_words", target_words, False),
            ("target_ratio", target_ratio, False),
            ("tolerance", tolerance, True),
            ("decay", decay, False),
        ):
            if value is not None:
                _check_number(arg, value, low_ok)
        self.target_words = target_words
        self.target_ratio = target_ratio
        self.tolerance = float(tolerance)
        self.decay = float(decay)

    def __call__(
        self,
        generations: Sequence[str],
        references: Sequence[Sequence[str]],
        sources: Sequence[str],
    ) -> np.ndarray:
        """Return one value in [0, 1] per sample, shape ``(n,)``."""
        if self.needs_references:
            check_batch(self.name, generations, references, sources)
        else:
            check_lengths(self.name, generations, references, sources)
        out = np.zeros(len(generations), dtype=np.float64)
        for i, (gen, refs) in enumerate(zip(generations, references, strict=True)):
            n = len(gen.split())
            if self.target_words is not None:
                out[i] = self._value(n, float(self.target_words))
            else:
                out[i] = max(self._value(n, self.target_ratio * len(r.split())) for r in refs)
        return out

    @property
    def needs_references(self) -> bool:
        """Whether the target comes from the references (``target_ratio``)."""
        return self.target_words is None

    def _value(self, n: int, target: float) -> float:
        if n == 0 or target <= 0:
            return 0.0
        lo, hi = (1 - self.tolerance) * target, (1 + self.tolerance) * target
        gap = lo - n if n < lo else max(0.0, n - hi)
        return max(0.0, 1.0 - gap / (self.decay * target))

    def __repr__(self) -> str:
        target = (
            f"target_words={self.target_words}"
            if self.target_words is not None
            else f"target_ratio={self.target_ratio}"
        )
        return f"LengthPenalty({target}, tolerance={self.tolerance}, decay={self.decay})"


def _check_number(arg: str, value: object, zero_ok: bool) -> None:
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
    if not ok or not math.isfinite(value) or value < 0 or (value == 0 and not zero_ok):
        bound = ">= 0" if zero_ok else "> 0"
        raise ConfigError(f"LengthPenalty {arg}={value!r} must be a finite number {bound}.")
