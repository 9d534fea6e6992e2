"""The result of a validity run and its files: CSV, JSON and a Kendall-tau heatmap."""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from textgym.atomic import write_atomic, write_text_atomic
from textgym.errors import ConfigError
from textgym.validity.correlation import LEVELS, Correlation

CSV_COLUMNS = (
    "reward",
    "human",
    "level",
    "kendall",
    "kendall_low",
    "kendall_high",
    "spearman",
    "spearman_low",
    "spearman_high",
    "n",
)


@dataclass
class ValidityResult:
    """Every correlation, plus what produced them and where the files went.

    ``skipped_scores`` maps each human column used to the number of lines left out of its
    correlations because their score there is not a number (columns with none are absent).
    """

    correlations: list[Correlation]
    rewards: list[str]
    human_columns: list[str]
    n_documents: int
    n_systems: int
    n_summaries: int
    bootstrap: int
    seed: int
    judgments: str = ""
    multi_reference: str | None = None
    skipped_scores: dict[str, int] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)

    def get(self, reward: str, human: str, level: str) -> Correlation:
        """The correlation of ``reward`` with ``human`` at ``level``.

        Raises:
            ConfigError: no such combination in this result.
        """
        for c in self.correlations:
            if (c.reward, c.human, c.level) == (reward, human, level):
                return c
        raise ConfigError(
            f"No correlation for reward={reward!r}, human={human!r}, level={level!r}; "
            f"rewards: {self.rewards}, human columns: {self.human_columns}, levels: {LEVELS}."
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready copy (NaN becomes null)."""
        return _nan_to_none(asdict(self))


def write_report(result: ValidityResult, out: str | os.PathLike[str]) -> dict[str, str]:
    """Write ``validity.csv``, ``validity.json`` and a PNG heatmap into ``out``, atomically.

    Each file is complete or absent. Returns (and records in ``result.files``) their paths.
    """
    folder = Path(out)
    files = {
        "csv": str(folder / "validity.csv"),
        "json": str(folder / "validity.json"),
        "heatmap": str(folder / "validity_kendall_system.png"),
    }
    result.files.update(files)
    write_text_atomic(files["csv"], to_csv(result))
    write_text_atomic(files["json"], json.dumps(result.to_dict(), indent=2) + "\n")
    write_atomic(files["heatmap"], lambda tmp: plot_heatmap(result, tmp))
    return files


def to_csv(result: ValidityResult) -> str:
    """The correlations as CSV text, one row per reward x human column x level."""
    import csv
    import io

    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for c in result.correlations:
        writer.writerow({k: _csv_value(v) for k, v in asdict(c).items()})
    return buffer.getvalue()


def _csv_value(value: Any) -> Any:
    """A CSV cell: floats with 6 decimals, NaN as empty, anything else as is."""
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.6f}"
    return value


def plot_heatmap(
    result: ValidityResult, path: str | os.PathLike[str], level: str = "system"
) -> None:
    """Save a rewards x human columns heatmap of Kendall's tau at ``level`` as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tau = np.array(
        [[result.get(r, h, level).kendall for h in result.human_columns] for r in result.rewards]
    )
    width = 2.4 + 1.3 * len(result.human_columns)
    fig, ax = plt.subplots(figsize=(width, 1.0 + 0.45 * len(result.rewards)))
    image = ax.imshow(tau, cmap="RdBu", vmin=-1, vmax=1, aspect="auto")
    ax.set_xticks(range(len(result.human_columns)), result.human_columns, rotation=30, ha="right")
    ax.set_yticks(range(len(result.rewards)), result.rewards)
    for (i, j), value in np.ndenumerate(tau):
        label = "n/a" if np.isnan(value) else f"{value:.2f}"
        color = "white" if abs(value) > 0.6 else "black"
        ax.text(j, i, label, ha="center", va="center", color=color, fontsize=9)
    name = Path(result.judgments).stem or "judgments"
    ax.set_title(f"{level}-level Kendall tau: {name}", fontsize=10)
    fig.colorbar(image, ax=ax, fraction=0.05)
    fig.tight_layout()
    fig.savefig(path, format="png", dpi=120)
    plt.close(fig)


def _nan_to_none(value: Any) -> Any:
    """``value`` with every NaN float (in nested dicts and lists) replaced by None."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _nan_to_none(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_nan_to_none(v) for v in value]
    return value
