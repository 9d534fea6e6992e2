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
    gains: np.ndarray, rewards: Sequence[str], metrics: Sequence[str], path: Path
) -> None:
    """Heatmap of mean gain over the initial policy, train reward (rows) × eval metric (columns).

    Colours are scaled per column (each metric by its largest absolute gain) so metrics of
    different ranges are comparable; the numbers written in the cells are the raw gains.
    """
    plt = _pyplot()
    scale = np.nanmax(np.abs(gains), axis=0, keepdims=True)
    shade = np.divide(gains, scale, out=np.zeros_like(gains), where=scale > 0)
    fig, ax = plt.subplots(figsize=(1.1 * len(metrics) + 2.5, 0.6 * len(rewards) + 1.8))
    ax.imshow(shade, cmap="RdBu", vmin=-1, vmax=1, aspect="auto")
    ax.set_xticks(range(len(metrics)), metrics, rotation=30, ha="right")
    ax.set_yticks(range(len(rewards)), rewards)
    for (i, j), value in np.ndenumerate(gains):
        text = "n/a" if np.isnan(value) else f"{value:+.3f}"
        color = "white" if abs(shade[i, j]) > 0.6 else "black"
        ax.text(j, i, text, ha="center", va="center", color=color)
    ax.set(xlabel="held-out metric", ylabel="trained on", title="Mean gain over the initial policy")
    _save(fig, path)


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
    """One point per run: KL to the initial model vs held-out gain on its own reward."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 4))
    for reward in sorted({p["reward"] for p in points}):
        mine = [p for p in points if p["reward"] == reward]
        ax.scatter([p["kl"] for p in mine], [p["gain"] for p in mine], label=reward)
    ax.axhline(0, color="grey", lw=0.8)
    ax.set(
        xlabel="KL to initial (nats/token, on its greedy outputs)",
        ylabel="held-out gain on the trained reward",
        title="Reward gain vs KL, one point per run",
    )
    ax.legend(fontsize="small")
    _save(fig, path)
