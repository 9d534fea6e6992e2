"""Turn the finished runs into results.csv, results.json, report.md and the plots.

``results.csv`` is long: one row per run × metric with the initial value, the trained value
and the gain (trained − initial of the same run). ``results.json`` holds every run's record
(as in its ``run.json``) and the summary: per (trained reward, metric) the mean gain and its
95 % t-interval over seeds.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from textgym.atomic import write_atomic, write_text_atomic
from textgym.evaluation import EVAL_METRICS
from textgym.experiments.job import RUN_METRICS
from textgym.experiments.plots import plot_curves, plot_gain_matrix, plot_reward_vs_kl
from textgym.experiments.stats import Interval, t_interval

BEHAVIOUR = (
    "own_reward",
    "kl_to_init",
    "kl_to_init_exact",
    "mean_new_tokens",
    "distinct_1",
    "distinct_2",
)
CSV_FIELDS = ("run", "reward", "seed", "metric", "initial", "trained", "gain")
Summary = dict[tuple[str, str], Interval]


def long_rows(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per run × metric: initial, trained and gain (trained − initial)."""
    return [
        {
            "run": r["run"],
            "reward": r["reward"],
            "seed": r["seed"],
            "metric": m,
            "initial": r["initial"][m],
            "trained": r["trained"][m],
            "gain": r["trained"][m] - r["initial"][m],
        }
        for r in records
        for m in RUN_METRICS
    ]


def summarize(records: list[dict[str, Any]]) -> Summary:
    """Mean gain ± 95 % t-interval over seeds for every (trained reward, metric)."""
    gains: dict[tuple[str, str], list[float]] = defaultdict(list)
    for row in long_rows(records):
        gains[row["reward"], row["metric"]].append(row["gain"])
    return {key: t_interval(values) for key, values in gains.items()}


def initial_values(records: list[dict[str, Any]]) -> tuple[dict[str, float], list[str]]:
    """The initial policy's mean metrics over runs, and the metrics on which runs disagree.

    ``own_reward`` depends on the run's reward, so it is kept per reward, under
    ``"own_reward:<reward>"``. With greedy decoding every run's evaluation of the initial
    policy is the same, so a disagreement means nondeterminism or mixed settings.
    """
    groups: dict[str, list[float]] = defaultdict(list)
    for r in records:
        for m in RUN_METRICS:
            key = f"{m}:{r['reward']}" if m == "own_reward" else m
            groups[key].append(r["initial"][m])
    differ = [key for key, v in groups.items() if max(v) - min(v) > 1e-9]
    return {key: float(np.mean(v)) for key, v in groups.items()}, differ


def hacking_flags(summary: Summary, rewards: list[str]) -> list[str]:
    """Lines for rewards whose own metric rose while most other built-in metrics fell."""
    lines = []
    for reward in rewards:
        own = summary[reward, "own_reward"].mean
        others = [m for m in EVAL_METRICS if m != reward]
        fell = [m for m in others if summary[reward, m].mean < 0]
        if own > 0 and 2 * len(fell) > len(others):
            lines.append(
                f"- **{reward}**: likely reward hacking: held-out {reward} rose by {own:+.4f} "
                f"while {len(fell)} of {len(others)} other metrics fell ({', '.join(fell)})."
            )
    return lines


def _cell(interval: Interval) -> str:
    if math.isnan(interval.half_width):
        return f"{interval.mean:+.4f}"
    star = " *" if interval.excludes_zero() else ""
    return f"{interval.mean:+.4f} ± {interval.half_width:.4f}{star}"


def _table(summary: Summary, rewards: list[str], metrics: tuple[str, ...], initial: dict) -> str:
    lines = ["| trained on | " + " | ".join(metrics) + " |", "|---" * (len(metrics) + 1) + "|"]
    first = [f"{initial[m]:.4f}" if m in initial else "—" for m in metrics]
    lines.append("| initial (absolute) | " + " | ".join(first) + " |")
    for reward in rewards:
        cells = [_cell(summary[reward, m]) for m in metrics]
        cells = [
            f"{cell} (from {initial[f'{m}:{reward}']:.4f})" if m == "own_reward" else cell
            for m, cell in zip(metrics, cells, strict=True)
        ]
        lines.append(f"| {reward} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


SETTINGS = ("env_id", "model", "timesteps", "n_envs", "n_steps", "batch_size", "n_epochs")
SETTINGS += ("learning_rate", "max_prompt_tokens", "max_new_tokens", "eval_examples", "kl_coef")


def _header(records: list[dict[str, Any]], rewards: list[str]) -> list[str]:
    seeds = {w: sorted(r["seed"] for r in records if r["reward"] == w) for w in rewards}
    config = records[0]["config"]
    runs = "; ".join(f"{w} (seeds {', '.join(map(str, s))})" for w, s in seeds.items())
    return [
        "# Reward comparison",
        "",
        f"{len(records)} finished runs: {runs}. Only the reward and the seed differ between runs; "
        "settings: " + ", ".join(f"{k}={config.get(k)}" for k in SETTINGS) + ".",
        "",
        f"Evaluation: greedy decoding on the first {config.get('eval_examples')} examples of the "
        f"{config.get('eval_split')!r} split. The initial policy is evaluated in every run "
        "before training (identical across runs under greedy decoding; a warning below says "
        "otherwise). Cells: mean gain over the initial policy (trained − initial, paired per "
        "run) ± half-width of the 95 % t-interval over seeds; `*` marks an interval that "
        "excludes 0. The first row is the initial policy's absolute score.",
    ]


def _hacking_section(summary: Summary, rewards: list[str], differ: list[str]) -> list[str]:
    flags = hacking_flags(summary, rewards) or [
        "- none: no reward raised its own metric while most others fell."
    ]
    lines = [
        "## Reward hacking check",
        "",
        "Flagged when a reward's held-out score rose on average while more than half of the "
        "other built-in metrics fell on average.",
        "",
        *flags,
    ]
    if differ:
        lines += [
            "",
            f"**Warning**: initial evaluations differ between runs on {', '.join(differ)}.",
        ]
    return lines


def markdown(records: list[dict[str, Any]], summary: Summary, plots: dict[str, str]) -> str:
    """The report: settings, gain tables with CIs, reward-hacking flags, plots."""
    rewards = sorted({r["reward"] for r in records})
    initial, differ = initial_values(records)
    parts = [
        *_header(records, rewards),
        "",
        "## Held-out metrics",
        "",
        _table(summary, rewards, EVAL_METRICS, initial),
        "",
        "## Behaviour",
        "",
        "`own_reward`: held-out score of the reward the run was trained on. `kl_to_init`: mean "
        "per generated token of log π_trained − log π_init on the trained policy's greedy "
        "outputs; `kl_to_init_exact`: the full-vocabulary KL at the same positions (nats). "
        "`mean_new_tokens`: output length. `distinct_n`: unique / all word n-grams over the "
        "outputs.",
        "",
        _table(summary, rewards, BEHAVIOUR, initial),
        "",
        *_hacking_section(summary, rewards, differ),
        "",
        "## Plots",
        "",
        *(f"![{name}]({path})" for name, path in plots.items()),
    ]
    return "\n".join(parts) + "\n"


def write_csv(path: Path, rows: list[dict[str, Any]]) -> Path:
    """Write ``rows`` (CSV_FIELDS columns) to ``path`` atomically."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_FIELDS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return write_text_atomic(path, buffer.getvalue())


def write_plots(out: Path, records: list[dict[str, Any]], summary: Summary) -> dict[str, str]:
    """Write the three PNGs atomically; return their names relative to ``out``."""
    rewards = sorted({r["reward"] for r in records})
    gains = np.array([[summary[r, m].mean for m in EVAL_METRICS] for r in rewards])
    curves: dict[str, list[list[float]]] = defaultdict(list)
    for r in records:
        curves[r["reward"]].append(r["episode_rewards"])
    points = [
        {
            "reward": r["reward"],
            "kl": r["trained"]["kl_to_init"],
            "gain": r["trained"]["own_reward"] - r["initial"]["own_reward"],
        }
        for r in records
    ]
    jobs = {
        "gain_matrix.png": lambda tmp: plot_gain_matrix(gains, rewards, EVAL_METRICS, tmp),
        "training_curves.png": lambda tmp: plot_curves(dict(curves), tmp),
        "reward_vs_kl.png": lambda tmp: plot_reward_vs_kl(points, tmp),
    }
    for name, draw in jobs.items():
        write_atomic(out / name, draw)
    return {name.removesuffix(".png"): name for name in jobs}


def _finite(value: float) -> float | None:
    """``value``, or None for NaN (an interval from a single seed), so the JSON stays valid."""
    return None if math.isnan(value) else value


def build_report(out: str | Path, records: list[dict[str, Any]]) -> dict[str, str]:
    """Write results.csv, results.json, the plots and report.md under ``out``; return paths."""
    out = Path(out)
    summary = summarize(records)
    rows = [
        {
            "reward": reward,
            "metric": metric,
            "n": iv.n,
            "mean_gain": iv.mean,
            "ci95_low": _finite(iv.low),
            "ci95_high": _finite(iv.high),
        }
        for (reward, metric), iv in sorted(summary.items())
    ]
    results = json.dumps({"runs": records, "summary": rows}, indent=1)
    files = {
        "csv": write_csv(out / "results.csv", long_rows(records)),
        "json": write_text_atomic(out / "results.json", results),
    }
    plots = write_plots(out, records, summary)
    files.update({name: out / path for name, path in plots.items()})
    files["report"] = write_text_atomic(out / "report.md", markdown(records, summary, plots))
    return {key: str(path) for key, path in files.items()}
