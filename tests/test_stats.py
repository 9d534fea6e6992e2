"""textgym.stats: t and percentile intervals, the seeds × examples bootstrap, detectable effects."""

from __future__ import annotations

import math

import numpy as np
import pytest

from textgym.stats import (
    mean_gain_interval,
    minimum_detectable_effect,
    percentile_interval,
    t_interval,
    two_way_bootstrap,
)


def test_t_interval_by_hand():
    iv = t_interval([1.0, 2.0, 3.0])
    # mean 2, s = 1, t_{0.975, 2} = 4.302653
    assert iv.mean == 2 and iv.half_width == pytest.approx(4.302653 / math.sqrt(3), rel=1e-6)
    assert iv.se == pytest.approx(1 / math.sqrt(3)) and iv.excludes_zero() is False
    two = t_interval([0.1, 0.3])  # s = 0.1414214, t_{0.975, 1} = 12.706205
    assert two.half_width == pytest.approx(12.706205 * 0.1414214 / math.sqrt(2), rel=1e-6)
    one = t_interval([5.0])
    assert one.mean == 5 and math.isnan(one.half_width) and not one.excludes_zero()


def test_percentile_interval_per_column_ignores_nan():
    boot = np.stack([np.arange(101.0), np.full(101, np.nan)], axis=1)
    low, high = percentile_interval(boot)
    assert low[0] == pytest.approx(2.5) and high[0] == pytest.approx(97.5)
    assert math.isnan(low[1]) and math.isnan(high[1])
    low, high = percentile_interval(np.zeros((0, 2)))  # no resample: undefined
    assert np.isnan(low).all() and np.isnan(high).all()


def test_bootstrap_sees_the_spread_of_seeds_and_of_examples():
    seeds_differ = np.repeat([[0.0], [1.0], [2.0]], 50, axis=1)  # examples all alike
    examples_differ = np.tile(np.linspace(-1, 1, 50), (3, 1))  # seeds all alike
    for table in (seeds_differ, examples_differ):
        iv = mean_gain_interval(table, n_resamples=500)
        assert iv.mean == pytest.approx(table.mean()) and iv.low < iv.mean < iv.high
        assert iv.half_width > 0.1 and iv.se > 0 and iv.n == 3
    flat = mean_gain_interval(np.full((3, 50), 0.2), n_resamples=200)
    assert flat.low == pytest.approx(0.2) and flat.high == pytest.approx(0.2)
    assert flat.excludes_zero()


def test_bootstrap_is_seeded_and_paired():
    rng = np.random.default_rng(1)
    table = rng.normal(size=(2, 30))
    a, b = mean_gain_interval(table, seed=7), mean_gain_interval(table, seed=7)
    assert (a.low, a.high) == (b.low, b.high)
    shifted = mean_gain_interval(table + 1.0, seed=7)  # same resamples: the interval shifts
    assert shifted.low == pytest.approx(a.low + 1) and shifted.high == pytest.approx(a.high + 1)


def test_bootstrap_leaves_out_nan_examples():
    table = np.array([[1.0, np.nan, 3.0], [1.0, 2.0, np.nan]])
    assert mean_gain_interval(table, n_resamples=50).mean == pytest.approx(7 / 4)


def test_bootstrap_covers_the_true_mean_of_a_crossed_design():
    rng = np.random.default_rng(0)
    covered = 0
    for _ in range(100):
        seed_effect = rng.normal(0, 0.05, size=(4, 1))
        example_effect = rng.normal(0, 0.2, size=(1, 60))
        table = 0.1 + seed_effect + example_effect + rng.normal(0, 0.1, size=(4, 60))
        iv = mean_gain_interval(table, n_resamples=300, seed=int(rng.integers(1 << 30)))
        covered += iv.low <= 0.1 <= iv.high
    assert covered >= 88  # nominal 95; conservative by design, never far below


def test_custom_statistic_and_bad_sizes():
    table = np.arange(12.0).reshape(3, 4)

    def row_max_mean(s, e):
        return np.array(
            [table[np.ix_(si, ei)].max(axis=1).mean() for si, ei in zip(s, e, strict=True)]
        )

    iv = two_way_bootstrap(row_max_mean, 3, 4, n_resamples=100)
    assert iv.mean == pytest.approx(7.0)  # row maxima 3, 7, 11
    with pytest.raises(ValueError, match="at least one seed and one example"):
        two_way_bootstrap(row_max_mean, 0, 4)
    with pytest.raises(ValueError, match="n_resamples=1"):
        two_way_bootstrap(row_max_mean, 3, 4, n_resamples=1)


def test_minimum_detectable_effect():
    assert minimum_detectable_effect(0.01) == pytest.approx(0.0280158, rel=1e-5)
    assert minimum_detectable_effect(0.01, power=0.5) == pytest.approx(0.0195996, rel=1e-5)
    assert math.isnan(minimum_detectable_effect(math.nan))
    with pytest.raises(ValueError, match="power=1"):
        minimum_detectable_effect(0.01, power=1)
