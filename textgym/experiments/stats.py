"""Mean and Student-t confidence interval over seeds."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Interval:
    """A mean with its confidence interval ``mean ± half_width`` (NaN with one value)."""

    mean: float
    half_width: float
    n: int

    @property
    def low(self) -> float:
        """Lower end of the interval."""
        return self.mean - self.half_width

    @property
    def high(self) -> float:
        """Upper end of the interval."""
        return self.mean + self.half_width

    def excludes_zero(self) -> bool:
        """Whether the whole interval lies on one side of 0 (False when it is undefined)."""
        return not math.isnan(self.half_width) and (self.low > 0 or self.high < 0)


def t_interval(values: Sequence[float], confidence: float = 0.95) -> Interval:
    """``mean ± t_{(1+c)/2, n-1} · s / √n`` with the sample standard deviation ``s``.

    Raises:
        ValueError: ``values`` is empty or ``confidence`` is not in (0, 1).
    """
    if not 0 < confidence < 1:
        raise ValueError(f"confidence={confidence} must be in (0, 1), e.g. 0.95.")
    x = np.asarray(values, dtype=np.float64)
    if x.size == 0:
        raise ValueError("t_interval needs at least one value.")
    if x.size == 1:
        return Interval(float(x[0]), float("nan"), 1)
    from scipy.stats import t

    half = t.ppf((1 + confidence) / 2, x.size - 1) * x.std(ddof=1) / math.sqrt(x.size)
    return Interval(float(x.mean()), float(half), int(x.size))
