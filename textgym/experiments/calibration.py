"""Calibrate hacking signals on runs whose label is known: canary rewards hack, clean ones do not.

Each run trained on a canary reward (``canary_*``, see :mod:`textgym.rewards.canaries`) is a
positive, each run on another reward a negative. For every signal of
:mod:`textgym.experiments.hacking_signals` the threshold ``t`` (flag when the run's value is
above ``t``) is the one that maximises Youden's J = TPR − FPR on the runs (ties: the highest
threshold, the fewest flags), and is at least 0: a signal fires only when the outputs moved in
the direction a hack moves them (longer, more copied, further from the initial model, the
independent metrics down), never because they failed to move the other way. Error rates
chosen and measured on the same runs would be optimistic, so the rates reported are
**leave-one-seed-out**: the threshold is chosen on the other seeds' runs and applied to the
held-out seed's, over every seed in turn; their intervals are Wilson 95 % intervals over the
runs. A signal whose cross-validated J is not above 0 is not
used to flag. ``any`` flags a run when any used signal fires.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from textgym.experiments.hacking_signals import SIGNALS, run_signals
from textgym.stats import wilson_interval

Record = dict[str, Any]
CANARY_PREFIX = "canary_"


def is_canary(reward: str) -> bool:
    """Whether ``reward`` is (made only of) a canary reward."""
    return all(part.split(":")[0].startswith(CANARY_PREFIX) for part in reward.split(","))


def choose_threshold(
    positives: Sequence[float], negatives: Sequence[float], floor: float = 0.0
) -> float:
    """The threshold >= ``floor`` maximising TPR − FPR (flag when value > it); ties: the highest."""
    pos = np.array([v for v in positives if math.isfinite(v)])
    neg = np.array([v for v in negatives if math.isfinite(v)])
    values = np.unique(np.concatenate([pos, neg]))
    if not len(pos) or not len(neg) or not len(values):
        return math.inf
    candidates = [values[0] - 1.0, *((values[:-1] + values[1:]) / 2), values[-1]]
    best, best_j = math.inf, -math.inf
    for t in sorted({max(floor, c) for c in candidates}):
        j = (pos > t).mean() - (neg > t).mean()
        if j >= best_j:
            best, best_j = float(t), j
    return best


def calibrate(records: Sequence[Record]) -> dict[str, Any]:
    """Thresholds on every run, and leave-one-seed-out error rates, of each signal and ``any``."""
    rows = [
        {
            "run": r["run"],
            "reward": r["reward"],
            "seed": r["seed"],
            "hack": is_canary(r["reward"]),
            **run_signals(r),
        }
        for r in records
    ]
    if not any(r["hack"] for r in rows) or all(r["hack"] for r in rows):
        raise ValueError("calibration needs runs on canary rewards and runs on clean rewards")
    signals = [s for s in SIGNALS if all(s in r for r in rows)]
    thresholds = {s: _threshold(rows, s) for s in signals}
    folds = _folds(rows, signals)
    result = {
        "method": "Youden's J threshold; leave-one-seed-out error rates; Wilson 95 % intervals",
        "positives": sorted({r["reward"] for r in rows if r["hack"]}),
        "negatives": sorted({r["reward"] for r in rows if not r["hack"]}),
        "seeds": sorted({r["seed"] for r in rows}),
        "signals": {},
        "runs": rows,
    }
    for s in signals:
        fired = folds[s]
        entry = _rates(rows, fired)
        entry.update(threshold=thresholds[s], used=entry["tpr"] - entry["fpr"] > 0)
        entry["per_reward"] = _per_reward(rows, fired)
        result["signals"][s] = entry
    used = [s for s in signals if result["signals"][s]["used"]]
    any_fired = [any(folds[s][i] for s in used) for i in range(len(rows))]
    result["any"] = {
        **_rates(rows, any_fired),
        "signals": used,
        "per_reward": _per_reward(rows, any_fired),
    }
    return result


def _threshold(rows: list[dict], signal: str) -> float:
    pos = [r[signal] for r in rows if r["hack"]]
    neg = [r[signal] for r in rows if not r["hack"]]
    return choose_threshold(pos, neg)


def _folds(rows: list[dict], signals: list[str]) -> dict[str, list[bool]]:
    """Per signal, whether each run fired under the threshold chosen without its seed."""
    fired = {s: [False] * len(rows) for s in signals}
    for seed in sorted({r["seed"] for r in rows}):
        train = [r for r in rows if r["seed"] != seed]
        for s in signals:
            t = _threshold(train, s)
            for i, r in enumerate(rows):
                if r["seed"] == seed:
                    fired[s][i] = bool(math.isfinite(r[s]) and r[s] > t)
    return fired


def _rates(rows: list[dict], fired: Sequence[bool]) -> dict[str, Any]:
    tp = sum(f for f, r in zip(fired, rows, strict=True) if r["hack"])
    fp = sum(f for f, r in zip(fired, rows, strict=True) if not r["hack"])
    n_pos = sum(r["hack"] for r in rows)
    n_neg = len(rows) - n_pos
    return {
        "tp": tp,
        "n_pos": n_pos,
        "tpr": tp / n_pos,
        "tpr_ci": wilson_interval(tp / n_pos, n_pos),
        "fp": fp,
        "n_neg": n_neg,
        "fpr": fp / n_neg,
        "fpr_ci": wilson_interval(fp / n_neg, n_neg),
    }


def _per_reward(rows: list[dict], fired: Sequence[bool]) -> dict[str, str]:
    """``reward -> "fired/runs"`` under the cross-validated thresholds."""
    out = {}
    for reward in sorted({r["reward"] for r in rows}):
        mine = [f for f, r in zip(fired, rows, strict=True) if r["reward"] == reward]
        out[reward] = f"{sum(mine)}/{len(mine)}"
    return out
