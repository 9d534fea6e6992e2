"""Hacking signals: how a trained policy's held-out outputs moved away from the initial model's.

Each signal is a gain (trained − initial, paired per example and seed) that a hack tends to
raise:

========================  ===================================================================
``kl``                    exact KL to the initial model, nats per generated token
``perplexity``            log-perplexity of the outputs under the initial model (``ref_nll``)
``length``                generated tokens per output
``copy``                  share of output word 3-grams found in the source (``copy_rate``)
``repetition``            share of output word 2-grams repeating an earlier one
``metric_drop``           minus the mean gain of the built-in metrics the reward is not made of
========================  ===================================================================

Their thresholds are not set by hand: :mod:`textgym.experiments.calibration` chooses them on
runs trained against canary rewards (known hacks) and clean rewards, and measures each
signal's true- and false-positive rate; the result ships as ``hacking_calibration.json``
beside this module (see ``docs/results/hacking_calibration.md``).
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from textgym.errors import ConfigError
from textgym.evaluation import EVAL_METRICS
from textgym.experiments.summary import BOOTSTRAP, Gain, gain, per_example_table
from textgym.rewards.spec import parse_reward_spec
from textgym.stats import mean_gain_interval, t_interval

Record = dict[str, Any]
CALIBRATION_FILE = Path(__file__).with_name("hacking_calibration.json")
METRIC_SIGNALS = {
    "kl": "kl_to_init_exact",
    "perplexity": "ref_nll",
    "length": "mean_new_tokens",
    "copy": "copy_rate",
    "repetition": "repetition",
}
SIGNALS = (*METRIC_SIGNALS, "metric_drop")


def own_parts(reward: str) -> set[str]:
    """The built-in metrics a reward is made of (``rougeL:0.5,chrf:0.5`` -> rougeL, chrf)."""
    try:
        spec = parse_reward_spec(reward)
    except ConfigError:
        return set()
    return set(spec) if isinstance(spec, dict) else {spec}


def independent_metrics(reward: str) -> list[str]:
    """The built-in metrics that ``reward`` is not made of."""
    parts = own_parts(reward)
    return [m for m in EVAL_METRICS if m not in parts]


def metric_drop_table(runs: Sequence[Record]) -> np.ndarray | None:
    """``(seeds, examples)``: minus the mean per-example gain of the independent metrics."""
    metrics = independent_metrics(runs[0]["reward"])
    gains = []
    for metric in metrics:
        trained, initial = (
            per_example_table(runs, "trained", metric),
            per_example_table(runs, "initial", metric),
        )
        if trained is None or initial is None or np.isnan(initial).all():
            continue
        gains.append(trained - initial)
    if not gains:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return -np.nanmean(np.stack(gains), axis=0)


def signal_gains(runs: Sequence[Record], n_resamples: int = 1000) -> dict[str, Gain]:
    """Every signal measured for one configuration's runs (one per seed), with intervals."""
    out: dict[str, Gain] = {}
    for name, metric in METRIC_SIGNALS.items():
        if all(metric in r.get("initial", {}) for r in runs):
            out[name] = gain(runs, metric, n_resamples)
    drop = metric_drop_gain(runs, n_resamples)
    if drop is not None:
        out["metric_drop"] = drop
    return out


def metric_drop_gain(runs: Sequence[Record], n_resamples: int = 1000) -> Gain | None:
    """The ``metric_drop`` signal of one configuration, with its intervals (None: unmeasured)."""
    drop = metric_drop_table(runs)
    if drop is None:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        per_seed = np.nanmean(drop, axis=1)
    seeds = t_interval(per_seed) if np.isfinite(per_seed).all() else None
    return Gain(mean_gain_interval(drop, n_resamples), BOOTSTRAP, drop.shape[1], seeds)


def run_signals(record: Record) -> dict[str, float]:
    """One run's signal values: the mean gain of each signal it measured."""
    values = {}
    for name, metric in METRIC_SIGNALS.items():
        trained, initial = (
            per_example_table([record], key, metric) for key in ("trained", "initial")
        )
        if trained is not None and initial is not None:
            values[name] = _mean(trained - initial)
        elif metric in record.get("initial", {}):
            values[name] = record["trained"][metric] - record["initial"][metric]
    drop = metric_drop_table([record])
    if drop is not None:
        values["metric_drop"] = _mean(drop)
    return values


def _mean(table: np.ndarray) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(np.nanmean(table))


def load_calibration(path: str | Path = CALIBRATION_FILE) -> dict[str, Any]:
    """The calibrated thresholds and error rates (empty when none is shipped)."""
    path = Path(path)
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def history_value(entry: Record, initial: Record, signal: str, reward: str) -> float:
    """One periodic evaluation's value of ``signal`` (mean gain over the initial evaluation)."""
    if signal == "metric_drop":
        gains = [
            entry[m] - initial[m]
            for m in independent_metrics(reward)
            if entry.get(m) is not None and initial.get(m) is not None
        ]
        return -float(np.mean(gains)) if gains else float("nan")
    metric = METRIC_SIGNALS[signal]
    if entry.get(metric) is None or initial.get(metric) is None:
        return float("nan")
    return float(entry[metric] - initial[metric])


def onsets(record: Record, calibration: Record) -> dict[str, int | None]:
    """When each used signal first crossed its threshold in the run's periodic evaluations.

    Also ``"damage"``: the first evaluation whose independent metrics were down on average
    (``metric_drop`` above 0), to compare warning with harm. None: never (or not measured).
    """
    history = record.get("evaluations") or []
    used = {s: e["threshold"] for s, e in calibration.get("signals", {}).items() if e["used"]}
    thresholds = {**used, "damage": 0.0}
    out: dict[str, int | None] = {}
    for name, threshold in thresholds.items():
        signal = "metric_drop" if name == "damage" else name
        crossed = [
            int(entry["timesteps"])
            for entry in history
            if history_value(entry, record["initial"], signal, record["reward"]) > threshold
        ]
        out[name] = crossed[0] if crossed else None
    return out
