"""Paired gains of each configuration over the initial policy, with bootstrap intervals.

A configuration ("cell": a reward and its sweep settings) is trained once per seed. For a
metric scored per held-out example, its gains form a ``seeds × examples`` table (trained −
initial on the same example, in the same run); the interval is the two-way bootstrap of
:mod:`textgym.stats.bootstrap` (seeds, then examples; percentile, 95 %). Corpus BLEU is
bootstrapped the same way from per-example sufficient statistics. Metrics without
per-example values (distinct-n, perplexity, runs written by an older textgym) fall back to
a Student-t interval over the seeds' gains.

Beside it, every gain has a **seed-level** interval: a Student-t interval over the per-seed
mean gains, which does not let many examples stand in for few seeds (with 3 seeds the
bootstrap has only 10 distinct seed resamples and understates the spread between seeds). A
gain is significant only when both intervals exclude 0; with one seed there is no seed-level
interval and significance rests on the examples alone (the report warns below
:data:`RECOMMENDED_SEEDS`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from textgym.errors import ConfigError
from textgym.evaluation.scores import bleu_from_stats
from textgym.stats import (
    Interval,
    mean_gain_interval,
    minimum_detectable_effect,
    t_interval,
    two_way_bootstrap,
)

Record = dict[str, Any]
BOOTSTRAP, T_OVER_SEEDS = "bootstrap", "t"
RECOMMENDED_SEEDS = 5


@dataclass(frozen=True)
class Gain:
    """One configuration's gain on one metric: trained − initial, with its 95 % interval.

    Attributes:
        interval: Mean gain, interval and standard error.
        method: ``"bootstrap"`` (seeds × examples, paired) or ``"t"`` (over seeds).
        n_examples: Held-out examples behind a bootstrap interval (0 for ``"t"``).
        seeds: Student-t interval over the per-seed mean gains (undefined with one seed).
    """

    interval: Interval
    method: str
    n_examples: int = 0
    seeds: Interval | None = None

    @property
    def significant(self) -> bool:
        """Whether the interval excludes 0, and the seed-level one too when there is one."""
        seeds = self.seeds
        seed_ok = seeds is None or seeds.n < 2 or seeds.excludes_zero()
        return self.interval.excludes_zero() and seed_ok

    @property
    def mde(self) -> float:
        """The minimum detectable effect at this sample size (80 % power, 95 % confidence)."""
        return minimum_detectable_effect(self.interval.se)


Summary = dict[tuple[str, str], Gain]


def cells(records: Sequence[Record]) -> dict[str, list[Record]]:
    """The runs of each configuration, sorted by seed; configurations in sorted order."""
    groups: dict[str, list[Record]] = defaultdict(list)
    for record in records:
        groups[record.get("cell", record["reward"])].append(record)
    return {cell: sorted(runs, key=lambda r: r["seed"]) for cell, runs in sorted(groups.items())}


def summarize(records: Sequence[Record], n_resamples: int = 1000, seed: int = 0) -> Summary:
    """The :class:`Gain` of every (configuration, metric) the runs record.

    A metric undefined for every run's initial policy (NaN, e.g. ROUGE on prompt-only data)
    has no gain and is left out.

    Raises:
        ConfigError: runs of one configuration were evaluated on different examples.
    """
    summary: Summary = {}
    for cell, runs in cells(records).items():
        _check_same_examples(cell, runs)
        for metric in runs[0]["initial"]:
            if all(_undefined(r["initial"][metric]) for r in runs):
                continue  # e.g. reference metrics on prompt-only data
            summary[cell, metric] = gain(runs, metric, n_resamples, seed)
    return summary


def _undefined(value: float | None) -> bool:
    """A metric value that could not be computed (NaN; stored as null in JSON)."""
    return value is None or bool(np.isnan(value))


def rank(summary: Summary, records: Sequence[Record], metric: str) -> list[str]:
    """The configurations with a gain on ``metric``, the highest mean gain first."""
    measured = [cell for cell in cells(records) if (cell, metric) in summary]
    return sorted(measured, key=lambda cell: summary[cell, metric].interval.mean, reverse=True)


def gain(runs: Sequence[Record], metric: str, n_resamples: int = 1000, seed: int = 0) -> Gain:
    """The gain of ``runs`` (one configuration, one per seed) on ``metric``."""
    if metric == "corpus_bleu" and all(r.get("bleu_stats", {}).get("trained") for r in runs):
        return _corpus_bleu_gain(runs, n_resamples, seed)
    tables = [per_example_table(runs, key, metric) for key in ("trained", "initial")]
    values = [
        np.nan
        if _undefined(r["trained"][metric]) or _undefined(r["initial"][metric])
        else r["trained"][metric] - r["initial"][metric]
        for r in runs
    ]
    seeds = _seed_interval(values)
    if tables[0] is not None and tables[1] is not None:
        interval = mean_gain_interval(tables[0] - tables[1], n_resamples, seed=seed)
        return Gain(interval, BOOTSTRAP, tables[0].shape[1], seeds)
    return Gain(seeds, T_OVER_SEEDS, seeds=seeds)


def _seed_interval(per_seed: Sequence[float]) -> Interval:
    """Student-t interval over the seeds' gains (undefined below 2 or when one is NaN)."""
    if not all(np.isfinite(per_seed)):
        return Interval(np.nan, np.nan, np.nan, len(per_seed))
    return t_interval(per_seed)


def per_example_table(runs: Sequence[Record], key: str, metric: str) -> np.ndarray | None:
    """``(seeds, examples)`` values of ``metric`` for policy ``key``; None if any run lacks it."""
    rows = [r.get("per_example", {}).get(key, {}).get(metric) for r in runs]
    if any(row is None for row in rows):
        return None
    return np.array(rows, dtype=np.float64)  # a null (JSON for NaN) becomes NaN


def _corpus_bleu_gain(runs: Sequence[Record], n_resamples: int, seed: int) -> Gain:
    """Corpus BLEU gain, bootstrapped from each example's BLEU statistics."""
    trained, initial = (
        np.array([r["bleu_stats"][key] for r in runs], dtype=np.float64)  # (S, E, 10)
        for key in ("trained", "initial")
    )

    def statistic(seed_idx: np.ndarray, example_idx: np.ndarray) -> np.ndarray:
        out = np.empty(len(seed_idx))
        for b, (s, e) in enumerate(zip(seed_idx, example_idx, strict=True)):
            new, old = trained[s][:, e].sum(axis=1), initial[s][:, e].sum(axis=1)  # (S, 10)
            gains = [bleu_from_stats(t) - bleu_from_stats(i) for t, i in zip(new, old, strict=True)]
            out[b] = np.mean(gains)
        return out

    n_seeds, n_examples = trained.shape[:2]
    interval = two_way_bootstrap(statistic, n_seeds, n_examples, n_resamples, seed=seed)
    per_seed = [r["trained"]["corpus_bleu"] - r["initial"]["corpus_bleu"] for r in runs]
    return Gain(interval, BOOTSTRAP, n_examples, _seed_interval(per_seed))


def _check_same_examples(cell: str, runs: Sequence[Record]) -> None:
    ids = {tuple(r.get("example_ids", ())) for r in runs}
    if len(ids) > 1:
        raise ConfigError(
            f"The runs of {cell!r} were evaluated on different held-out examples, so their "
            "gains cannot be paired; re-run them with the same --eval-dataset, --eval-split "
            "and --eval-examples (or a new --out)."
        )
