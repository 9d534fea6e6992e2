"""Does a gain replicate on a second held-out set? The eval set and the check set side by side.

Each (configuration, metric) has a :class:`~textgym.experiments.summary.Gain` on both sets;
its status is

- **replicates**: significant on both, with the same sign;
- **does not replicate**: significant on one set while the other's estimate has the opposite
  sign (a result that reverses between two samples of the same distribution);
- **one set only**: significant on one set, the same direction but not significant on the other;
- **no effect shown**: significant on neither.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from textgym.experiments.summary import Gain, Summary, summarize

REPLICATES, REVERSES, ONE_SET, NEITHER = (
    "replicates",
    "does not replicate",
    "one set only",
    "no effect shown",
)
Record = dict[str, Any]


def check_records(records: Sequence[Record]) -> list[Record]:
    """The records as evaluated on the check set (runs without one are left out)."""
    return [{**r, **r["check"]} for r in records if "check" in r]


def status(eval_gain: Gain, check_gain: Gain) -> str:
    """The replication status of one gain measured on the eval set and on the check set."""
    signs = [math.copysign(1, g.interval.mean) for g in (eval_gain, check_gain)]
    significant = [g.significant for g in (eval_gain, check_gain)]
    if all(significant):
        return REPLICATES if signs[0] == signs[1] else REVERSES
    if any(significant):
        return ONE_SET if signs[0] == signs[1] else REVERSES
    return NEITHER


def replication(summary: Summary, records: Sequence[Record]) -> dict[tuple[str, str], tuple]:
    """``(cell, metric) -> (eval gain, check gain, status)`` for every gain measured on both."""
    checked = check_records(records)
    if not checked:
        return {}
    other = summarize(checked)
    return {
        key: (gain, other[key], status(gain, other[key]))
        for key, gain in summary.items()
        if key in other
    }
