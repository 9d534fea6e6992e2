"""Kendall and Spearman correlations of reward and human grids, with bootstrap intervals.

Each reward's scores are correlated with each human column at two levels, as in the
summarisation-evaluation literature (e.g. Bhandari et al. 2020, Deutsch et al. 2021):

- **system level**: average each system's scores over the documents, then correlate the
  per-system means of the reward with those of the humans (one value, across systems);
- **summary level**: for each document, correlate the reward with the humans across the
  systems that summarised it, then average over documents. A document on which the reward
  or the humans give every system the same score has no defined correlation and is skipped.

Kendall's tau is tau-b (ties corrected); Spearman's rho is Pearson on ranks (``scipy``).

Confidence intervals (95%, percentile bootstrap) come from :func:`document_resamples`: at
system level each resample recomputes the per-system means from the resampled documents and
correlates them (the systems stay fixed); at summary level each resample averages the
per-document correlations of the resampled documents.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from textgym.stats.intervals import percentile_interval

LEVELS = ("system", "summary")


@dataclass
class Correlation:
    """One reward against one human column at one level, with bootstrap 95% intervals.

    ``n`` counts systems (system level) or the documents with a defined correlation
    (summary level).
    """

    reward: str
    human: str
    level: str
    kendall: float
    kendall_low: float
    kendall_high: float
    spearman: float
    spearman_low: float
    spearman_high: float
    n: int


def correlate(
    metric: np.ndarray,
    human: np.ndarray,
    samples: np.ndarray,
    reward: str = "reward",
    column: str = "human",
) -> list[Correlation]:
    """System- and summary-level correlations of two ``(n_docs, n_systems)`` grids.

    Args:
        metric: Reward scores, NaN where a document has no summary from a system.
        human: Human scores on the same grid.
        samples: ``(B, n_docs)`` document indices of the bootstrap resamples (B may be 0).
        reward: Name recorded in the result.
        column: Human column name recorded in the result.
    """
    system = system_level(metric, human)
    boot_system = np.array([system_level(metric[s], human[s]) for s in samples]).reshape(-1, 2)
    per_doc = summary_level_per_document(metric, human)  # (n_docs, 2)
    summary = _nanmean_or_nan(per_doc)
    boot_summary = np.array([_nanmean_or_nan(per_doc[s]) for s in samples]).reshape(-1, 2)
    n_docs = int(np.sum(~np.isnan(per_doc[:, 0])))
    n_systems = int(np.sum(_has_values(metric, human)))
    return [
        _correlation(reward, column, "system", system, boot_system, n_systems),
        _correlation(reward, column, "summary", summary, boot_summary, n_docs),
    ]


def system_level(metric: np.ndarray, human: np.ndarray) -> np.ndarray:
    """``[kendall, spearman]`` of the per-system means (over documents) of two grids."""
    keep = _has_values(metric, human)
    with np.errstate(invalid="ignore"):
        x = np.nanmean(metric[:, keep], axis=0) if keep.any() else np.array([])
        y = np.nanmean(human[:, keep], axis=0) if keep.any() else np.array([])
    return kendall_spearman(x, y)


def summary_level_per_document(metric: np.ndarray, human: np.ndarray) -> np.ndarray:
    """``(n_docs, 2)``: each document's [kendall, spearman] across its systems (NaN: undefined)."""
    return np.array([kendall_spearman(x, y) for x, y in zip(metric, human, strict=True)])


def kendall_spearman(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``[tau_b, rho]`` of the pairs where both are finite; NaN if fewer than 2 or constant."""
    from scipy import stats

    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    if len(x) < 2 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return np.array([np.nan, np.nan])
    tau = stats.kendalltau(x, y, variant="b").statistic
    rho = stats.spearmanr(x, y).statistic
    return np.array([tau, rho], dtype=np.float64)


def document_resamples(n_docs: int, bootstrap: int, seed: int) -> np.ndarray:
    """``(bootstrap, n_docs)`` document indices drawn with replacement.

    Drawn with ``numpy.random.default_rng(seed)``; one set serves every reward and human
    column, so their intervals are paired.
    """
    rng = np.random.default_rng(seed)
    return rng.integers(0, n_docs, size=(bootstrap, n_docs))


def _has_values(metric: np.ndarray, human: np.ndarray) -> np.ndarray:
    """Systems with at least one document scored by both."""
    return np.any(np.isfinite(metric) & np.isfinite(human), axis=0)


def _nanmean_or_nan(values: np.ndarray) -> np.ndarray:
    """Column means over the non-NaN entries; NaN for a column with none."""
    ok = ~np.isnan(values)
    count = ok.sum(axis=0)
    total = np.where(ok, values, 0.0).sum(axis=0)
    return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def _correlation(
    reward: str, column: str, level: str, point: np.ndarray, boot: np.ndarray, n: int
) -> Correlation:
    """A :class:`Correlation` from a ``[kendall, spearman]`` point and its replicates."""
    low, high = percentile_interval(boot)  # 95 %, NaN replicates ignored
    return Correlation(
        reward=reward,
        human=column,
        level=level,
        kendall=float(point[0]),
        kendall_low=float(low[0]),
        kendall_high=float(high[0]),
        spearman=float(point[1]),
        spearman_low=float(low[1]),
        spearman_high=float(high[1]),
        n=n,
    )
