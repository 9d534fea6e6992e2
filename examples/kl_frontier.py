"""The KL frontier: own-reward gain, independent metrics and KL for each KL penalty setting.

Reads the finished runs of one or more `textgym compare` folders that differ only in the KL
penalty (fixed β, including none, or adaptive with a target), groups them by reward and
penalty, and writes, per (reward, penalty): the paired gains with bootstrap and seed-level
intervals of the own reward, the independent metrics' drop and the KL to the initial model,
the hacking verdict, and the share of the unpenalised own-reward gain the penalty kept. Plus
frontier.png: KL vs own-reward gain, one line per reward through its penalties.

Run: python examples/kl_frontier.py --runs runs/hacking_calibration \
       --runs runs/kl_frontier_beta0.1 --rewards canary_length,rougeL --out runs/kl_frontier
"""

import argparse
import json
from collections import defaultdict
from pathlib import Path

from textgym.atomic import write_atomic, write_text_atomic
from textgym.experiments.grid import load_finished
from textgym.experiments.hacking import verdict
from textgym.experiments.hacking_signals import metric_drop_gain
from textgym.experiments.summary import gain

METRICS = ("own_reward", "kl_to_init_exact", "mean_new_tokens", "rougeL", "chrf")


def penalty(config: dict) -> str:
    """The run's KL penalty as a label: ``β=0``, ``β=0.1`` or ``adaptive (target 4.0)``."""
    if config.get("target_kl") is not None:
        return f"adaptive (target {config['target_kl']})"
    return f"β={config.get('kl_coef') or 0}"


def interval(g) -> dict:
    iv, seeds = g.interval, g.seeds
    return {
        "mean": iv.mean,
        "ci95": [iv.low, iv.high],
        "seed_ci95": None if seeds is None else [seeds.low, seeds.high],
        "significant": g.significant,
    }


def cell_summary(runs: list[dict]) -> dict:
    gains = {m: gain(runs, m) for m in METRICS}
    drop = metric_drop_gain(runs)
    if drop is not None:
        gains["metric_drop"] = drop
    judged = verdict(gains, runs[0]["reward"])
    return {
        "seeds": sorted(r["seed"] for r in runs),
        **{m: interval(g) for m, g in gains.items()},
        "verdict": judged.status,
        "reasons": judged.reasons,
    }


def plot(cells: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for n, (reward, by_penalty) in enumerate(sorted(cells.items())):
        points = sorted(by_penalty.items(), key=lambda kv: kv[1]["kl_to_init_exact"]["mean"])
        xs = [c["kl_to_init_exact"]["mean"] for _, c in points]
        ys = [c["own_reward"]["mean"] for _, c in points]
        low = [c["own_reward"]["mean"] - c["own_reward"]["ci95"][0] for _, c in points]
        high = [c["own_reward"]["ci95"][1] - c["own_reward"]["mean"] for _, c in points]
        ax.errorbar(xs, ys, yerr=[low, high], marker="o", capsize=3, label=reward, color=f"C{n}")
        for x, y, (name, _) in zip(xs, ys, points, strict=True):
            ax.annotate(name, (x, y), textcoords="offset points", xytext=(4, 4), fontsize="small")
    ax.axhline(0, color="grey", lw=0.8)
    ax.set(
        xlabel="KL to the initial model (nats/token, greedy held-out outputs)",
        ylabel="held-out own-reward gain [95 % CI]",
        title="KL frontier: one point per penalty, mean over seeds",
    )
    ax.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(path, format="png", dpi=110)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", action="append", required=True, help="a compare --out folder")
    parser.add_argument("--rewards", default=None, help="comma-separated rewards to keep")
    parser.add_argument("--out", default="runs/kl_frontier")
    args = parser.parse_args()
    keep = None if args.rewards is None else set(args.rewards.split(","))
    groups: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for folder in args.runs:
        for record in load_finished(folder):
            if keep is None or record["reward"] in keep:
                groups[record["reward"], penalty(record["config"])].append(record)
    if not groups:
        raise SystemExit(f"no finished run under {', '.join(args.runs)}")
    cells: dict[str, dict] = defaultdict(dict)
    for (reward, name), runs in sorted(groups.items()):
        cells[reward][name] = cell_summary(runs)
    for by_penalty in cells.values():
        base = by_penalty.get("β=0", {}).get("own_reward", {}).get("mean")
        for summary in by_penalty.values():
            own = summary["own_reward"]["mean"]
            summary["kept_of_unpenalised_gain"] = own / base if base else None
    out = Path(args.out)
    result = {"runs_from": [Path(f).name for f in args.runs], "cells": cells}
    write_text_atomic(out / "frontier.json", json.dumps(result, indent=1, default=float) + "\n")
    write_atomic(out / "frontier.png", lambda tmp: plot(cells, tmp))
    for reward, by_penalty in cells.items():
        for name, c in by_penalty.items():
            print(
                f"{reward:>14} {name:>22}: own {c['own_reward']['mean']:+.4f} "
                f"KL {c['kl_to_init_exact']['mean']:.3f} {c['verdict']}"
            )
    print(f"-> {out / 'frontier.json'}, {out / 'frontier.png'}")


if __name__ == "__main__":
    main()
