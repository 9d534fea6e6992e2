"""Confidence intervals: Student-t over a few values, percentile of bootstrap replicates, Wilson."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Interval:
    """An estimate with its confidence interval ``[low, high]`` (NaN ends: undefined).

    Attributes:
        mean: The point estimate.
        low: Lower end of the interval.
        high: Upper end of the interval.
        n: How many units it rests on (seeds for a t-interval over seeds).
        se: Standard error of ``mean`` (NaN when unknown), for detectable effects.
    """

    mean: float
    low: float
    high: float
    n: int
    se: float = math.nan

    @property
    def half_width(self) -> float:
        """Half the interval's width (its ``±``); NaN when the interval is undefined."""
        return (self.high - self.low) / 2

    def excludes_zero(self) -> bool:
        """Whether the whole interval lies on one side of 0 (False when it is undefined)."""
        return bool(not math.isnan(self.half_width) and (self.low > 0 or self.high < 0))


def check_confidence(confidence: float) -> None:
    """Raise a ValueError unless ``confidence`` is in (0, 1)."""
    if not 0 < confidence < 1:
        raise ValueError(f"confidence={confidence} must be in (0, 1), e.g. 0.95.")


def t_interval(values: Sequence[float], confidence: float = 0.95) -> Interval:
    """``mean ± t_{(1+c)/2, n-1} · s / √n`` with the sample standard deviation ``s``.

    Raises:
        ValueError: ``values`` is empty or ``confidence`` is not in (0, 1).
    """
    check_confidence(confidence)
    x = np.asarray(values, dtype=np.float64)
    if x.size == 0:
        raise ValueError("t_interval needs at least one value.")
    if x.size == 1:
        return Interval(float(x[0]), math.nan, math.nan, 1)
    from scipy.stats import t

    se = x.std(ddof=1) / math.sqrt(x.size)
    half = float(t.ppf((1 + confidence) / 2, x.size - 1) * se)
    mean = float(x.mean())
    return Interval(mean, mean - half, mean + half, int(x.size), float(se))


def percentile_interval(
    replicates: np.ndarray, confidence: float = 0.95
) -> tuple[np.ndarray, np.ndarray]:
    """Percentile interval of bootstrap ``replicates`` (shape ``(B, ...)``), per column.

    NaN replicates are ignored; a column without any finite one gets NaN ends.
    """
    check_confidence(confidence)
    tail = 100 * (1 - confidence) / 2
    boot = np.asarray(replicates, dtype=np.float64)
    flat = boot.reshape(boot.shape[0], int(np.prod(boot.shape[1:])))
    low, high = np.full(flat.shape[1], np.nan), np.full(flat.shape[1], np.nan)
    for j in range(flat.shape[1]):
        values = flat[:, j][~np.isnan(flat[:, j])]
        if len(values):
            low[j], high[j] = np.percentile(values, [tail, 100 - tail])
    return low.reshape(boot.shape[1:]), high.reshape(boot.shape[1:])


def wilson_interval(proportion: float, n: int, z: float = 1.959964) -> tuple[float, float]:
    """95% Wilson score interval of a binomial proportion observed on ``n`` trials."""
    if n <= 0:
        return (0.0, 1.0)
    denom = 1 + z * z / n
    centre = (proportion + z * z / (2 * n)) / denom
    half = z * math.sqrt(proportion * (1 - proportion) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))
