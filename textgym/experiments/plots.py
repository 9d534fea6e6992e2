"""The comparison's PNG plots (matplotlib, Agg backend): heatmap, curves, reward vs KL."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: Path) -> None:
    plt = _pyplot()
    fig.tight_layout()
    fig.savefig(path, format="png", dpi=110)
    plt.close(fig)


def plot_gain_matrix(
    gains: np.ndarray,
    rewards: Sequence[str],
    metrics: Sequence[str],
    path: Path,
    intervals: np.ndarray | None = None,
    significant: np.ndarray | None = None,
) -> None:
    """Heatmap of mean gain over the initial policy, train reward (rows) × eval metric (columns).

    Only significant cells are coloured, on a scale symmetric around 0 (blue up, red down) per
    column: each metric by the largest absolute interval end of its cells, so metrics of
    different ranges are comparable and a small gain with a wide interval stays pale.
    Non-significant cells are grey and hatched. Each cell shows the raw gain and, when
    ``intervals`` (shape ``(rows, columns, 2)``) is given, its 95 % interval.
    """
    plt = _pyplot()
    sig = np.ones(gains.shape, bool) if significant is None else np.asarray(significant, bool)
    shown = gain_shades(gains, intervals, sig)
    shade = shown.filled(0)
    fig, ax = plt.subplots(figsize=(1.5 * len(metrics) + 2.5, 0.7 * len(rewards) + 1.9))
    ax.imshow(shown, cmap="RdBu", vmin=-1, vmax=1, aspect="auto")
    for (i, j), value in np.ndenumerate(gains):
        if not sig[i, j]:
            cell = plt.Rectangle((j - 0.5, i - 0.5), 1, 1, facecolor="0.92", edgecolor="0.75")
            ax.add_patch(cell)
            cell.set(hatch="//", lw=0)
        text = "n/a" if np.isnan(value) else f"{value:+.3f}"
        if intervals is not None and not np.isnan(intervals[i, j]).any():
            text += f"\n[{intervals[i, j, 0]:+.3f}, {intervals[i, j, 1]:+.3f}]"
        text += "" if sig[i, j] else "\nn.s."
        color = "white" if sig[i, j] and abs(shade[i, j]) > 0.6 else "black"
        ax.text(j, i, text, ha="center", va="center", color=color, fontsize="small")
    ax.set_xticks(range(len(metrics)), metrics, rotation=30, ha="right")
    ax.set_yticks(range(len(rewards)), rewards)
    ax.set(
        xlabel="held-out metric",
        ylabel="trained on",
        title="Mean gain over the initial policy (grey: not significant)",
    )
    _save(fig, path)


def gain_shades(
    gains: np.ndarray, intervals: np.ndarray | None, significant: np.ndarray
) -> np.ma.MaskedArray:
    """Colour values in [-1, 1] of the gain matrix; non-significant and NaN cells masked.

    Each column is divided by the largest absolute interval end in it (the largest absolute
    gain without intervals): a scale symmetric around 0, on which a gain with a wide
    interval stays pale.
    """
    bounds = np.abs(gains) if intervals is None else np.nanmax(np.abs(intervals), axis=2)
    scale = np.nanmax(np.where(np.isnan(bounds), 0, bounds), axis=0, keepdims=True)
    shade = np.divide(gains, scale, out=np.zeros_like(gains), where=scale > 0)
    return np.ma.masked_where(~significant | np.isnan(gains), shade)


def plot_curves(curves: dict[str, list[list[float]]], path: Path) -> None:
    """Episode reward vs episode for each reward, one panel each: every seed, and their mean.

    The mean is over the first episodes every seed has (smoothed when there are many).
    """
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(curves), figsize=(3.6 * len(curves), 3.2), squeeze=False)
    for ax, (reward, runs) in zip(axes[0], sorted(curves.items()), strict=True):
        for run in runs:
            ax.plot(np.arange(1, len(run) + 1), run, lw=0.8, alpha=0.35, color="grey")
        length = min((len(r) for r in runs), default=0)
        if length:
            mean = np.mean([r[:length] for r in runs], axis=0)
            window = max(1, length // 10)
            smooth = np.convolve(mean, np.ones(window) / window, mode="valid")
            label = f"mean of {len(runs)} seeds" + (
                f", moving mean of {window}" if window > 1 else ""
            )
            ax.plot(np.arange(window, length + 1), smooth, lw=2, label=label)
            ax.legend(fontsize="small")
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.set(title=reward, xlabel="episode", ylabel=f"{reward} (training reward)")
    _save(fig, path)


def plot_reward_vs_kl(points: list[dict[str, Any]], path: Path) -> None:
    """One point per run: KL to the initial model vs held-out gain on its own reward.

    A point is filled when its configuration's own-reward gain is significant (the point's
    ``"significant"``), hollow when not.
    """
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 4))
    for n, reward in enumerate(sorted({p["reward"] for p in points})):
        mine = [p for p in points if p["reward"] == reward]
        sig = any(p.get("significant", True) for p in mine)
        colour = f"C{n % 10}"
        ax.scatter(
            [p["kl"] for p in mine],
            [p["gain"] for p in mine],
            label=reward + ("" if sig else " (n.s.)"),
            facecolors=colour if sig else "none",
            edgecolors=colour,
        )
    ax.axhline(0, color="grey", lw=0.8)
    ax.set(
        xlabel="KL to initial (nats/token, on its greedy outputs)",
        ylabel="held-out gain on the trained reward",
        title="Reward gain vs KL, one point per run",
    )
    ax.legend(fontsize="small")
    _save(fig, path)
