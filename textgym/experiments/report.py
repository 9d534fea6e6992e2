"""Turn the finished runs into results.csv, results.json, report.md and the plots.

``results.csv`` is long: one row per run × metric with the initial value, the trained value
and the gain (trained − initial of the same run). ``results.json`` holds every run's record
(as in its ``run.json``), the summary (per configuration and metric: the mean gain, its
95 % interval, standard error, minimum detectable effect and significance; see
:mod:`textgym.experiments.summary`), the ranking and the reward-hacking verdicts (see
:mod:`textgym.experiments.hacking`).
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from textgym.atomic import write_atomic, write_json_atomic, write_text_atomic
from textgym.experiments.hacking import Verdict, verdict
from textgym.experiments.hacking_signals import metric_drop_gain
from textgym.experiments.metrics import HELD_OUT
from textgym.experiments.plots import plot_curves, plot_gain_matrix, plot_reward_vs_kl
from textgym.experiments.replication import replication
from textgym.experiments.report_md import markdown
from textgym.experiments.summary import Summary, cells, rank, summarize

Record = dict[str, Any]
CSV_FIELDS = ("run", "cell", "reward", "seed", "metric", "initial", "trained", "gain")


def long_rows(records: list[Record]) -> list[dict[str, Any]]:
    """One row per run × metric: initial, trained and gain (trained − initial)."""
    rows = []
    for r in records:
        for m, initial in r["initial"].items():
            trained = r["trained"][m]
            gain = None if initial is None or trained is None else trained - initial
            rows.append(
                {
                    "run": r["run"],
                    "cell": r.get("cell", r["reward"]),
                    "reward": r["reward"],
                    "seed": r["seed"],
                    "metric": m,
                    "initial": initial,
                    "trained": trained,
                    "gain": gain,
                }
            )
    return rows


def verdicts(records: list[Record], summary: Summary) -> dict[str, Verdict]:
    """The reward-hacking verdict of every configuration (its gains and ``metric_drop``)."""
    judged = {}
    for cell, runs in cells(records).items():
        gains = {m: g for (c, m), g in summary.items() if c == cell}
        drop = metric_drop_gain(runs)
        if drop is not None:
            gains["metric_drop"] = drop
        judged[cell] = verdict(gains, runs[0]["reward"])
    return judged


def summary_rows(summary: Summary) -> list[dict[str, Any]]:
    """The summary as JSON rows, one per (configuration, metric)."""
    return [
        {
            "cell": cell,
            "metric": metric,
            "method": g.method,
            "n_seeds": g.interval.n,
            "n_examples": g.n_examples,
            "mean_gain": g.interval.mean,
            "ci95_low": g.interval.low,
            "ci95_high": g.interval.high,
            "se": g.interval.se,
            "seed_ci95_low": g.seeds.low if g.seeds else None,
            "seed_ci95_high": g.seeds.high if g.seeds else None,
            "mde": g.mde,
            "significant": g.significant,
        }
        for (cell, metric), g in sorted(summary.items())
    ]


def write_csv(path: Path, rows: list[dict[str, Any]]) -> Path:
    """Write ``rows`` (CSV_FIELDS columns) to ``path`` atomically."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_FIELDS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return write_text_atomic(path, buffer.getvalue())


def write_plots(out: Path, records: list[Record], summary: Summary) -> dict[str, str]:
    """Write the PNGs atomically; return their names relative to ``out``.

    The gain matrix shows the held-out metrics measured for every configuration; with none
    (prompt-only data: no references to score against) it is not drawn.
    """
    groups = list(cells(records))
    metrics = [m for m in HELD_OUT if all((c, m) in summary for c in groups)]
    gains = np.array([[summary[c, m].interval.mean for m in metrics] for c in groups])
    bounds = np.array(
        [
            [(summary[c, m].interval.low, summary[c, m].interval.high) for m in metrics]
            for c in groups
        ]
    ).reshape(len(groups), len(metrics), 2)
    sig = np.array([[summary[c, m].significant for m in metrics] for c in groups], bool)
    curves: dict[str, list[list[float]]] = defaultdict(list)
    for cell, runs in cells(records).items():
        curves[cell] = [r["episode_rewards"] for r in runs]
    points = [
        {
            "reward": r.get("cell", r["reward"]),
            "kl": r["trained"]["kl_to_init_exact"],
            "gain": r["trained"]["own_reward"] - r["initial"]["own_reward"],
            "significant": _significant(summary, r.get("cell", r["reward"]), "own_reward"),
        }
        for r in records
    ]
    jobs = {
        "gain_matrix.png": lambda tmp: plot_gain_matrix(gains, groups, metrics, tmp, bounds, sig),
        "training_curves.png": lambda tmp: plot_curves(dict(curves), tmp),
        "reward_vs_kl.png": lambda tmp: plot_reward_vs_kl(points, tmp),
    }
    if not metrics:
        del jobs["gain_matrix.png"]
    for name, draw in jobs.items():
        write_atomic(out / name, draw)
    return {name.removesuffix(".png"): name for name in jobs}


def _significant(summary: Summary, cell: str, metric: str) -> bool:
    gain = summary.get((cell, metric))
    return gain is not None and gain.significant


def build_report(
    out: str | Path, records: list[Record], rank_by: str = "own_reward"
) -> dict[str, str]:
    """Write results.csv, results.json, the plots and report.md under ``out``; return paths."""
    out = Path(out)
    summary = summarize(records)
    judged = verdicts(records, summary)
    replicated = replication(summary, records)
    results = {
        "runs": records,
        "summary": summary_rows(summary),
        "ranking": {"metric": rank_by, "order": rank(summary, records, rank_by)},
        "verdicts": {cell: asdict(v) for cell, v in judged.items()},
        "replication": [
            {"cell": cell, "metric": metric, "status": verdict}
            for (cell, metric), (_, _, verdict) in sorted(replicated.items())
        ],
    }
    files = {
        "csv": write_csv(out / "results.csv", long_rows(records)),
        "json": write_json_atomic(out / "results.json", results),
    }
    plots = write_plots(out, records, summary)
    files.update({name: out / path for name, path in plots.items()})
    text = markdown(records, summary, judged, plots, rank_by, replicated)
    files["report"] = write_text_atomic(out / "report.md", text)
    return {key: str(path) for key, path in files.items()}
