"""The markdown of ``report.md``: settings, gain tables with intervals, ranking, hacking check."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import numpy as np

from textgym.evaluation.scores import BEST_OF_N, SAMPLE_MEAN
from textgym.experiments.hacking import KL_GUARD, PERPLEXITY_GUARD, Verdict
from textgym.experiments.metrics import BEHAVIOUR, HELD_OUT, is_sampled, sampled
from textgym.experiments.summary import Gain, Summary, cells, rank
from textgym.stats.bootstrap import DEFAULT_RESAMPLES
from textgym.stats.power import DEFAULT_POWER

Record = dict[str, Any]
RECOMMENDED_EXAMPLES = 100
SETTINGS = ("env_id", "model", "timesteps", "n_envs", "n_steps", "batch_size", "n_epochs")
SETTINGS += ("learning_rate", "max_prompt_tokens", "max_new_tokens", "kl_coef", "group_size")


def number(value: float, sign: str = "+") -> str:
    """``value`` with 4 decimals, or in scientific notation when it is below 0.001 (not 0)."""
    small = value != 0 and abs(value) < 1e-3
    return f"{value:{sign}.2e}" if small else f"{value:{sign}.4f}"


def gain_cell(gain: Gain) -> str:
    """``+0.0123 [+0.0031, +0.0215] sig; MDE 0.0090`` (``n.s.`` when not significant)."""
    iv = gain.interval
    if math.isnan(iv.low):
        return f"{number(iv.mean)} (no interval)"
    verdict = "**sig**" if gain.significant else "n.s."
    mde = "" if math.isnan(gain.mde) else f"; MDE {number(gain.mde, '')}"
    return f"{number(iv.mean)} [{number(iv.low)}, {number(iv.high)}] {verdict}{mde}"


def initial_values(records: Sequence[Record]) -> tuple[dict[str, float], list[str]]:
    """The initial policy's mean metrics over runs, and the metrics on which runs disagree.

    Own-reward metrics depend on the run's reward, so they are kept per reward, under
    ``"<metric>:<reward>"``. Greedy evaluations of the initial policy are the same in
    every run, so a disagreement there means nondeterminism or a sweep axis that changes
    generation; sampled metrics differ by seed and are not compared.
    """
    groups: dict[str, list[float]] = defaultdict(list)
    for r in records:
        for m, value in r["initial"].items():
            key = f"{m}:{r['reward']}" if m.startswith("own_reward") else m
            groups[key].append(np.nan if value is None else value)
    groups = {key: v for key, v in groups.items() if not np.all(np.isnan(v))}  # undefined
    differ = [
        key
        for key, v in groups.items()
        if not is_sampled(key.split(":")[0]) and np.nanmax(v) - np.nanmin(v) > 1e-9
    ]
    return {key: float(np.nanmean(v)) for key, v in groups.items()}, differ


def table(summary: Summary, records: Sequence[Record], metrics: Sequence[str]) -> str:
    """A gains table: the initial policy's absolute values, then one row per configuration."""
    initial, _ = initial_values(records)
    metrics = [m for m in metrics if any((c, m) in summary for c in cells(records))]
    if not metrics:
        return "None measured: the held-out data has no references to score against."
    lines = ["| configuration | " + " | ".join(metrics) + " |", "|---" * (len(metrics) + 1) + "|"]
    first = [f"{initial[m]:.4f}" if m in initial else "—" for m in metrics]
    lines.append("| initial (absolute) | " + " | ".join(first) + " |")
    for cell, runs in cells(records).items():
        row = []
        for m in metrics:
            text = gain_cell(summary[cell, m]) if (cell, m) in summary else "—"
            if m.startswith("own_reward"):
                key = f"{m}:{runs[0]['reward']}"
                text += f" (from {initial[key]:.4f})"
            row.append(text)
        lines.append(f"| {cell} | " + " | ".join(row) + " |")
    return "\n".join(lines)


def header(records: Sequence[Record], summary: Summary) -> list[str]:
    """Title, what ran, the shared settings and how the evaluation and statistics work."""
    config, groups = records[0]["config"], cells(records)
    axes = {name for r in records for name in r.get("settings", {})}
    seeds = sorted({r["seed"] for r in records})
    examples = max((g.n_examples for g in summary.values()), default=0)
    samples = records[0].get("samples", 0)
    sampled_text = (
        f" plus {samples} samples per prompt (mean and best-of-{samples})" if samples else ""
    )
    data = config.get("eval_dataset") or f"the {config.get('eval_split')!r} split"
    lines = [
        "# Comparison report",
        "",
        f"{len(records)} finished runs: {len(groups)} configurations × seeds "
        f"{', '.join(map(str, seeds))}"
        + (f"; sweep axes: {', '.join(sorted(axes))}" if axes else "")
        + ". Shared settings: "
        + ", ".join(f"{k}={config.get(k)}" for k in SETTINGS if k not in axes)
        + ".",
        "",
        f"Evaluation: greedy decoding{sampled_text} on {examples} held-out examples of {data}; "
        "the initial and the trained policy of each run see the same prompts.",
        "",
        "Cells: mean gain over the initial policy (trained − initial, paired per example and "
        "per seed) [95 % interval]; **sig** when the interval excludes 0, else n.s. Intervals: "
        f"two-way bootstrap over seeds then examples ({DEFAULT_RESAMPLES} resamples, percentile); "
        "metrics without "
        "per-example values (distinct-n, perplexity) use a t-interval over seeds. MDE: the "
        "smallest true gain detected with "
        f"{DEFAULT_POWER:.0%} power at this sample size, 2.80 × the bootstrap standard error.",
    ]
    if examples and examples < RECOMMENDED_EXAMPLES:
        lines += [
            "",
            f"**Warning**: only {examples} held-out examples (at least {RECOMMENDED_EXAMPLES} "
            "recommended); small gains go undetected (see the MDEs). Pass --eval-dataset with "
            "more held-out rows.",
        ]
    return lines


def ranking(summary: Summary, records: Sequence[Record], metric: str) -> list[str]:
    """Configurations ranked by their mean gain on ``metric``, with intervals."""
    ordered = rank(summary, records, metric)
    if len(ordered) < 2:
        return []
    lines = [
        f"## Ranking by held-out gain in {metric}",
        "",
        "Intervals that overlap do not establish an order between two configurations.",
        "",
        f"| rank | configuration | {metric} gain | KL to initial (exact) | seeds |",
        "|---|---|---|---|---|",
    ]
    for place, cell in enumerate(ordered, start=1):
        kl = summary.get((cell, "kl_to_init_exact"))
        n = summary[cell, metric].interval.n
        kl_text = gain_cell(kl) if kl else "—"
        lines.append(f"| {place} | {cell} | {gain_cell(summary[cell, metric])} | {kl_text} | {n} |")
    return ["", *lines]


def hacking_section(verdicts: dict[str, Verdict], differ: list[str]) -> list[str]:
    """Each configuration's verdict, the rule and the thresholds."""
    lines = [
        "## Reward hacking check",
        "",
        "Flagged only on evidence: the held-out own reward rose significantly while another "
        "built-in metric fell significantly, or a guard moved beyond its threshold with its "
        f"whole interval (KL to the initial model > {KL_GUARD} nats/token; perplexity of the "
        f"outputs under the initial model > {PERPLEXITY_GUARD}× the initial outputs'). "
        "Inconclusive: the same pattern in the estimates without significance, or no interval.",
        "",
    ]
    for cell, v in verdicts.items():
        reasons = f": {'; '.join(v.reasons)}" if v.reasons else ""
        lines.append(f"- **{cell}**: {v.status}{reasons}.")
    if differ:
        lines += [
            "",
            f"**Warning**: initial evaluations differ between runs on {', '.join(differ)}.",
        ]
    return lines


def markdown(
    records: Sequence[Record],
    summary: Summary,
    verdicts: dict[str, Verdict],
    plots: dict[str, str],
    rank_by: str,
) -> str:
    """The whole report."""
    _, differ = initial_values(records)
    parts = [
        *header(records, summary),
        "",
        "## Held-out metrics",
        "",
        table(summary, records, HELD_OUT),
        "",
        "## Behaviour",
        "",
        "`own_reward`: held-out score of the reward trained on. `kl_to_init_exact`, "
        "`kl_to_init`: full-vocabulary KL and log-ratio to the initial model per generated token "
        "of the greedy outputs (nats). `ref_nll`: their negative log-likelihood per token under "
        "the initial model (its gain is the log of the perplexity ratio); `perplexity`: exp of "
        "it, token-pooled. `mean_new_tokens`: length. `copy_rate`: share of an output's word "
        "3-grams found in its source; `repetition`: share of its word 2-grams that repeat one "
        "before it. `distinct_n`: unique / all word n-grams over all outputs.",
        "",
        table(summary, records, BEHAVIOUR),
        *_sampled_tables(summary, records),
        *ranking(summary, records, rank_by),
        "",
        *hacking_section(verdicts, differ),
        "",
        "## Plots",
        "",
        *(f"![{name}]({path})" for name, path in plots.items()),
    ]
    return "\n".join(parts) + "\n"


def _sampled_tables(summary: Summary, records: Sequence[Record]) -> list[str]:
    samples = records[0].get("samples", 0)
    if not samples:
        return []
    return [
        "",
        f"## Sampled outputs ({samples} per prompt)",
        "",
        "Mean over the samples of each prompt:",
        "",
        table(summary, records, sampled(SAMPLE_MEAN)),
        "",
        f"Best of the {samples} samples of each prompt:",
        "",
        table(summary, records, sampled(BEST_OF_N)),
    ]
