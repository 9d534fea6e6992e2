"""Statistics in one place: intervals, the paired two-way bootstrap, detectable effects.

Used by the experiment report (:mod:`textgym.experiments.summary`), reward validity
(:mod:`textgym.validity`) and reward-model training (Wilson interval).
"""

from textgym.stats.bootstrap import mean_gain_interval, two_way_bootstrap
from textgym.stats.intervals import Interval, percentile_interval, t_interval, wilson_interval
from textgym.stats.power import minimum_detectable_effect

__all__ = [
    "Interval",
    "mean_gain_interval",
    "minimum_detectable_effect",
    "percentile_interval",
    "t_interval",
    "two_way_bootstrap",
    "wilson_interval",
]
