"""A two-way bootstrap over seeds and examples, for paired gains of trained over initial.

Every seed's run is evaluated on the same held-out examples, so the data form a crossed
``seeds × examples`` table (one gain per cell: trained − initial on that example, same
prompt). Both seeds and examples are random draws that the conclusion should generalise
over, so each bootstrap replicate resamples **seeds** with replacement, **then examples**
with replacement, and recomputes the statistic on the resampled table; one example resample
serves all the resampled seeds of a replicate, because the examples are shared across seeds
(Owen 2007, "the pigeonhole bootstrap"; a cluster bootstrap that resampled seeds only would
ignore the examples' variance, one that resampled examples only would ignore the seeds').
The interval is the percentile interval of the replicates; the standard error is their
standard deviation. With one seed it reduces to the ordinary bootstrap over examples.
Owen shows this bootstrap is mildly conservative (it counts the seed × example interaction
more than once), which errs on the side of "not significant".

``scipy.stats.bootstrap`` resamples along a single axis (paired samples share one index),
so it cannot express this crossed design; this module draws the indices itself with a
seeded ``numpy.random.default_rng``.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np

from textgym.stats.intervals import Interval, percentile_interval

# statistic(seed_idx (b, S), example_idx (b, E)) -> (b,) values, one per replicate
Statistic = Callable[[np.ndarray, np.ndarray], np.ndarray]
DEFAULT_RESAMPLES = 1000
CHUNK_CELLS = 2_000_000  # bound on b · S · E gathered at once


def two_way_bootstrap(
    statistic: Statistic,
    n_seeds: int,
    n_examples: int,
    n_resamples: int = DEFAULT_RESAMPLES,
    confidence: float = 0.95,
    seed: int = 0,
) -> Interval:
    """Percentile interval of ``statistic`` under the seeds-then-examples bootstrap.

    Args:
        statistic: Maps index arrays ``(b, S)`` of seeds and ``(b, E)`` of examples to
            ``b`` values; called with the identity indices for the point estimate.
        n_seeds: ``S``, seeds in the table.
        n_examples: ``E``, examples in the table.
        n_resamples: Bootstrap replicates ``B``.
        confidence: Coverage of the interval.
        seed: Seeds the resampling; the same seed gives the same resamples, so intervals
            of different metrics on one table are paired.

    Returns:
        An :class:`Interval` with ``n = n_seeds`` and the bootstrap standard error.

    Raises:
        ValueError: no seed or example, or fewer than 2 resamples.
    """
    if n_seeds < 1 or n_examples < 1:
        raise ValueError(f"need at least one seed and one example, got {n_seeds}, {n_examples}")
    if n_resamples < 2:
        raise ValueError(f"n_resamples={n_resamples} must be at least 2, e.g. 1000.")
    rng = np.random.default_rng(seed)
    seeds = rng.integers(0, n_seeds, size=(n_resamples, n_seeds))
    examples = rng.integers(0, n_examples, size=(n_resamples, n_examples))
    chunk = max(1, CHUNK_CELLS // (n_seeds * n_examples))
    replicates = np.concatenate(
        [
            statistic(seeds[i : i + chunk], examples[i : i + chunk])
            for i in range(0, n_resamples, chunk)
        ]
    )
    point = statistic(np.arange(n_seeds)[None], np.arange(n_examples)[None])[0]
    low, high = percentile_interval(replicates[:, None], confidence)
    finite = replicates[np.isfinite(replicates)]
    se = float(finite.std(ddof=1)) if finite.size > 1 else float("nan")
    return Interval(float(point), float(low[0]), float(high[0]), n_seeds, se)


def mean_gain_interval(
    gains: np.ndarray,
    n_resamples: int = DEFAULT_RESAMPLES,
    confidence: float = 0.95,
    seed: int = 0,
) -> Interval:
    """Interval of the mean of a ``(seeds, examples)`` table of paired gains.

    NaN cells (an example with no defined value) are left out of each mean.
    """
    table = np.asarray(gains, dtype=np.float64)
    if table.ndim != 2:
        raise ValueError(f"gains must be a (seeds, examples) table, got shape {table.shape}")

    def mean(seed_idx: np.ndarray, example_idx: np.ndarray) -> np.ndarray:
        cells = table[seed_idx[:, :, None], example_idx[:, None, :]]  # (b, S, E)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # an all-NaN resample: NaN, left out
            return np.nanmean(cells.reshape(len(cells), -1), axis=1)

    return two_way_bootstrap(mean, *table.shape, n_resamples, confidence, seed)
