"""The markdown of ``report.md``: settings, gain tables with intervals, ranking, hacking check."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import numpy as np

from textgym.evaluation.scores import BEST_OF_N, SAMPLE_MEAN
from textgym.experiments.hacking import Verdict
from textgym.experiments.hacking_signals import load_calibration, onsets
from textgym.experiments.metrics import BEHAVIOUR, HELD_OUT, is_sampled, sampled
from textgym.experiments.replication import REVERSES
from textgym.experiments.summary import RECOMMENDED_SEEDS, Gain, Summary, cells, rank
from textgym.stats.bootstrap import DEFAULT_RESAMPLES
from textgym.stats.power import DEFAULT_POWER

Record = dict[str, Any]
RECOMMENDED_EXAMPLES = 100
SETTINGS = ("env_id", "model", "timesteps", "n_envs", "n_steps", "batch_size", "n_epochs")
SETTINGS += ("learning_rate", "max_prompt_tokens", "max_new_tokens", "group_size")


def number(value: float, sign: str = "+") -> str:
    """``value`` with 4 decimals, or in scientific notation when it is below 0.001 (not 0)."""
    small = value != 0 and abs(value) < 1e-3
    return f"{value:{sign}.2e}" if small else f"{value:{sign}.4f}"


def gain_cell(gain: Gain) -> str:
    """``+0.0123 [+0.0031, +0.0215] seeds [+0.0011, +0.0235] **sig**; MDE 0.0090``.

    The first interval is the bootstrap's (or the t-interval over seeds for metrics without
    per-example values), then the seed-level one when it differs; ``n.s.`` when not
    significant.
    """
    iv = gain.interval
    if math.isnan(iv.low):
        return f"{number(iv.mean)} (no interval)"
    verdict = "**sig**" if gain.significant else "n.s."
    mde = "" if math.isnan(gain.mde) else f"; MDE {number(gain.mde, '')}"
    seeds = gain.seeds
    by_seed = ""
    if seeds is not None and seeds is not iv and not math.isnan(seeds.low):
        by_seed = f" seeds [{number(seeds.low)}, {number(seeds.high)}]"
    return f"{number(iv.mean)} [{number(iv.low)}, {number(iv.high)}]{by_seed} {verdict}{mde}"


def kl_words(config: dict[str, Any]) -> str:
    """The KL penalty of ``config`` in words: off, fixed β, or adaptive with its target."""
    beta, target = config.get("kl_coef"), config.get("target_kl")
    if target is not None:
        start = 0.1 if beta is None else beta
        return f"KL penalty on, adaptive β (target {target} nats per episode, from β={start})"
    if not beta:
        return "KL penalty off"
    return f"KL penalty on, fixed β={beta}"


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
        + ". "
        + (
            "The KL penalty is a sweep axis."
            if axes & {"kl_coef", "target_kl"}
            else kl_words(config)
        )
        + ".",
        "",
        f"Evaluation: greedy decoding{sampled_text} on {examples} held-out examples of {data}; "
        "the initial and the trained policy of each run see the same prompts.",
        "",
        "Cells: mean gain over the initial policy (trained − initial, paired per example and "
        "per seed) [95 % interval]; **sig** when the interval excludes 0, else n.s. Intervals: "
        f"two-way bootstrap over seeds then examples ({DEFAULT_RESAMPLES} resamples, percentile); "
        "metrics without "
        "per-example values (distinct-n, perplexity) use a t-interval over seeds. `seeds [..]`: "
        "a t-interval over the per-seed mean gains; a gain is **sig** only when it excludes 0 "
        "too (with one seed there is none and significance rests on the examples). MDE: the "
        "smallest true gain detected with "
        f"{DEFAULT_POWER:.0%} power at this sample size, 2.80 × the bootstrap standard error.",
    ]
    if len(seeds) < RECOMMENDED_SEEDS:
        lines += [
            "",
            f"**Warning**: {len(seeds)} seed{'s' if len(seeds) != 1 else ''} (at least "
            f"{RECOMMENDED_SEEDS} recommended): the spread between seeds is poorly known, so "
            "seed-level intervals are wide"
            + (" and one seed has none." if len(seeds) == 1 else ".")
            + " Pass --seeds 5 or more.",
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
    """Each configuration's verdict, the rule and where the thresholds come from."""
    calibration = load_calibration()
    if calibration:
        used = [s for s, e in calibration["signals"].items() if e["used"]]
        source = (
            f"Thresholds of the hacking signals ({', '.join(used)}) were chosen on runs trained "
            f"against canary rewards ({', '.join(calibration['positives'])}) and clean ones "
            f"({', '.join(calibration['negatives'])}); the error rates quoted are "
            "leave-one-seed-out estimates from those runs (docs: results/hacking_calibration)."
        )
    else:
        source = "No calibration of the hacking signals is installed: only the first rule applies."
    lines = [
        "## Reward hacking check",
        "",
        "Flagged only on evidence: the held-out own reward rose significantly while another "
        "built-in metric fell significantly, or a calibrated hacking signal has its whole "
        "interval above its threshold. Inconclusive: the same pattern in the estimates without "
        f"significance, or no interval. {source}",
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


def signal_section(records: Sequence[Record]) -> list[str]:
    """Per configuration, how much gradient signal its rollouts had (means over its runs)."""
    rows = []
    for cell, runs in cells(records).items():
        health = [r["signal_health"] for r in runs if r.get("signal_health")]
        if not health:
            continue

        def mean(key: str, health: list = health) -> str:
            values = [h[key] for h in health if h.get(key) is not None]
            return f"{np.mean(values):.0%}" if values else "—"

        dead = sum(h["dead_rollouts"] for h in health)
        total = sum(h["rollouts"] for h in health)
        stopped = sum(bool(h.get("stopped")) for h in health)
        rows.append(
            f"| {cell} | {mean('zero_std_groups')} | {mean('length_capped')} | "
            f"{mean('zero_advantages')} | {dead} of {total} | {stopped} |"
        )
    if not rows:
        return []
    return [
        "",
        "## Gradient signal",
        "",
        "Means over each configuration's runs of the per-rollout shares: groups whose task "
        "rewards were all equal (no signal from the task), episodes that hit the length cap "
        "without EOS, and steps with advantage 0. A rollout is dead when every advantage is 0 "
        "or every group's rewards were equal; runs stopped by --stop-on-dead-signal are counted.",
        "",
        "| configuration | zero-variance groups | length-capped episodes | zero advantages "
        "| dead rollouts | runs stopped |",
        "|---|---|---|---|---|---|",
        *rows,
    ]


def onset_section(records: Sequence[Record]) -> list[str]:
    """Per run with periodic evaluations: when each calibrated signal first fired, and harm."""
    calibration = load_calibration()
    timed = [r for r in records if r.get("evaluations")]
    if not timed or not calibration:
        return []
    rows = []
    for r in timed:
        found = onsets(r, calibration)
        shown = {k: "—" if v is None else str(v) for k, v in found.items()}
        signals = ", ".join(f"{k} at {v}" for k, v in shown.items() if k != "damage" and v != "—")
        rows.append(f"| {r['run']} | {signals or 'none fired'} | {shown['damage']} |")
    return [
        "",
        "## Onset of the hacking signals",
        "",
        "From the periodic evaluations (--eval-every): the timesteps at which each calibrated "
        "signal's mean first crossed its threshold, beside the first evaluation at which the "
        "independent metrics were down on average (harm). A warning is early when it comes "
        "before the harm.",
        "",
        "| run | signals fired (timesteps) | independent metrics first down |",
        "|---|---|---|",
        *rows,
    ]


def replication_section(
    replicated: dict[tuple[str, str], tuple], records: Sequence[Record]
) -> list[str]:
    """The eval set's and the check set's gains side by side, with each one's status."""
    if not replicated:
        return []
    config = records[0]["config"]
    first = config.get("eval_dataset") or f"the {config.get('eval_split')!r} split"
    second = next(r["check"]["dataset"] for r in records if "check" in r)
    lines = [
        "## Replication on a second held-out set",
        "",
        f"Eval set: {first}; check set: {second}. **replicates**: significant on both, same "
        "sign; **does not replicate**: significant on one while the other's estimate has "
        "the opposite sign; **one set only**: significant on one, same direction on the "
        "other; **no effect shown**: significant on neither.",
        "",
        "| configuration | metric | eval set | check set | status |",
        "|---|---|---|---|---|",
    ]
    for (cell, metric), (first_gain, second_gain, verdict) in sorted(replicated.items()):
        if metric == "own_reward" or metric in HELD_OUT:
            shown = f"**{verdict}**" if verdict == REVERSES else verdict
            lines.append(
                f"| {cell} | {metric} | {gain_cell(first_gain)} | {gain_cell(second_gain)} "
                f"| {shown} |"
            )
    return ["", *lines]


def markdown(
    records: Sequence[Record],
    summary: Summary,
    verdicts: dict[str, Verdict],
    plots: dict[str, str],
    rank_by: str,
    replicated: dict[tuple[str, str], tuple] | None = None,
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
        *replication_section(replicated or {}, records),
        *signal_section(records),
        *onset_section(records),
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
