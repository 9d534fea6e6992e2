"""The documentation's tables and figures, generated from stored artifacts.

A page holds generated regions: a table,

    <!-- table: NAME ARGS... -->
    ...generated Markdown...
    <!-- /table -->

or a number inside prose, ``<!-- fig: NAME ARGS... -->0.703<!-- /fig -->``. NAME picks a
renderer (the ``TABLES`` and ``FIGS`` registries below); ARGS are split like a shell line
(quote arguments with spaces) and are artifact paths relative to the repository root, other
positional values, or ``key=value`` options. Each renderer reads one artifact (a benchmark
result in ``benchmarks/results/``, an experiment's files in ``docs/results/``) and returns
Markdown that names the artifact and, when the artifact has one, its date.

    python docs/tables.py            # regenerate every region of README.md and docs/**/*.md
    python docs/tables.py --check    # change nothing; exit 1 listing each region that differs

Regions inside fenced code blocks are left alone.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import shlex
import statistics
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REGION = re.compile(  # not after a backtick: `<!-- table: ... -->` in prose is an example
    r"(?<!`)<!-- (?P<kind>table|fig): (?P<spec>.*?) -->(?P<body>.*?)<!-- /(?P=kind) -->", re.S
)
OPENING = re.compile(r"(?<!`)<!-- (table|fig):")
CLOSING = re.compile(r"<!-- /(table|fig) -->(?!`)")
FENCE = re.compile(r"^(?P<fence>```|~~~).*?^(?P=fence)[ \t]*$", re.M | re.S)


class Missing(Exception):
    """An artifact a region names does not exist."""


class UnknownRenderer(Exception):
    """A region names a renderer that is not registered."""


class Context:
    """Where a region is: the repository root and the page that holds it."""

    def __init__(self, root: Path, page: Path) -> None:
        self.root, self.page = root, page

    def artifact(self, path: str) -> Path:
        """The artifact at ``path`` (relative to the root); :class:`Missing` if absent."""
        full = self.root / path
        if not full.is_file():
            raise Missing(path)
        return full

    def link(self, path: str) -> str:
        """A Markdown link from the page to the artifact.

        A page under ``docs/`` cannot link outside it (the site is built from ``docs/``
        alone, with link checks), so there the path is shown as code instead.
        """
        docs = self.root / "docs"
        page_in_docs = docs in self.page.parents
        if page_in_docs and docs not in (self.root / path).parents:
            return f"`{path}`"
        target = os.path.relpath(self.root / path, self.page.parent)
        return f"[`{path}`]({Path(target).as_posix()})"


Renderer = Callable[..., str]
TABLES: dict[str, Renderer] = {}
FIGS: dict[str, Renderer] = {}


def table(name: str) -> Callable[[Renderer], Renderer]:
    """Register a table renderer under ``name``."""

    def register(function: Renderer) -> Renderer:
        TABLES[name] = function
        return function

    return register


def fig(name: str) -> Callable[[Renderer], Renderer]:
    """Register an inline-value renderer under ``name``."""

    def register(function: Renderer) -> Renderer:
        FIGS[name] = function
        return function

    return register


# ---------------------------------------------------------------- formatting helpers


def fmt(value: object, spec: str | None = None) -> str:
    """A number as the docs show it: ``spec`` if given, else about three significant digits."""
    if value is None or value != value:  # None or NaN
        return "—"
    if isinstance(value, (list, tuple)):
        return ", ".join(fmt(v, spec) for v in value)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if spec:
        return format(value, spec).replace("-", "−")
    if isinstance(value, int):
        text = f"{value:,}"
    elif value == 0:
        text = "0"
    elif abs(value) >= 100:
        text = f"{value:,.0f}"
    elif abs(value) >= 0.01:
        text = f"{value:#.3g}".rstrip(".")
    else:
        text = f"{value:.2e}"
    return text.replace("-", "−")


def interval(low: float, high: float, spec: str = ".3f") -> str:
    """``[low, high]`` with ``spec``."""
    return f"[{fmt(low, spec)}, {fmt(high, spec)}]"


def cell(text: object) -> str:
    """Text safe inside a Markdown table cell."""
    return str(text).replace("|", "\\|").replace("\n", " ")


def numeric(text: object) -> bool:
    """Whether a cell reads as a number (or an interval), to be right-aligned."""
    return bool(re.match(r"\[?[−+\-]?\d", str(text)))


def markdown_table(header: list[str], rows: list[list[object]]) -> str:
    """A Markdown table; columns that hold only numbers are right-aligned."""
    lines = ["| " + " | ".join(cell(h) for h in header) + " |"]
    right = [i > 0 and all(numeric(row[i]) for row in rows) for i in range(len(header))]
    lines.append("|" + "".join("---:|" if r else "---|" for r in right))
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def source(ctx: Context, path: str, date: str | None = None, more: str = "") -> str:
    """The line under a table: the artifact, its date when it has one, and ``more``."""
    text = f"Source: {ctx.link(path)}"
    if date:
        text += f", recorded {date}"
    return text + (f"; {more}" if more else "") + "."


def load_json(ctx: Context, path: str) -> dict:
    """The JSON artifact at ``path``."""
    return json.loads(ctx.artifact(path).read_text(encoding="utf-8"))


def date_of(data: object) -> str | None:
    """The artifact's own date (its top-level ``date``), if it has one."""
    date = data.get("date") if isinstance(data, dict) else None
    return date if isinstance(date, str) else None


def at(data: object, path: str) -> object:
    """The value at a ``/``-separated path of keys (list indices as numbers)."""
    for key in filter(None, path.split("/")):
        data = data[int(key)] if isinstance(data, list) else data[key]
    return data


def options(args: tuple[str, ...]) -> tuple[list[str], dict[str, str]]:
    """Split ARGS into positional values and ``key=value`` options."""
    positional, named = [], {}
    for arg in args:
        match = re.fullmatch(r"([a-z_]+)=(.*)", arg, re.S)
        if match:
            named[match[1]] = match[2]
        else:
            positional.append(arg)
    return positional, named


# ---------------------------------------------------------------- benchmark results

LABELS = {
    "bench_rollout/ratio": "speed ratio, rollout ÷ generate",
    "bench_rollout/tokens": "tokens per timed run",
    "bench_kl/ratio": "rollout time, with KL ÷ without",
    "bench_kl/ratio bfloat16 reference": "rollout time, bfloat16 reference ÷ without",
    "bench_kl/tokens": "tokens per timed run",
    "bench_update/token_ratio": "LM tokens, per transition ÷ grouped",
    "bench_update/time_ratio": "epoch time, per transition ÷ grouped",
    "bench_update/logp_diff": "max |log-prob grouped − per transition|",
    "bench_update/logp_stored_diff": "max |log-prob recomputed − stored at rollout|",
    "bench_update/iteration_peak_rss_growth_mib": "peak RSS growth, one PPO iteration (MiB)",
    "bench_update/gpu_peak_mib": "peak GPU memory allocated (MiB)",
    "bench_trl/ratio_groups_over_trl": "speed ratio, textgym with groups ÷ TRL",
    "bench_trl/ratio_no_groups_over_trl": "speed ratio, textgym without groups ÷ TRL",
    "bench_trl/ratio_textgym_over_trl": "speed ratio, textgym ÷ TRL",
}
UNITS = {"tok_s": "tok/s", "steps_s": "steps/s", "evals_s": "evals/s", "s": "s"}
UNITS |= {"gib": "GiB", "mib": "MiB"}


def label(bench: str, key: str) -> str:
    """A readable name for a recorded figure: ``rollout_tok_s`` -> ``rollout (tok/s)``."""
    if f"{bench}/{key}" in LABELS:
        return LABELS[f"{bench}/{key}"]
    match = re.search(r"[ _](tok_s|steps_s|evals_s|s|gib|mib)$", key)
    if match:
        key = f"{key[: match.start()]} ({UNITS[match[1]]})"
    return key.replace("_", " ")


def machine_text(machine: dict | str) -> str:
    """One line saying where a benchmark ran (old results hold a string)."""
    if isinstance(machine, str):
        return machine
    cpu = f"{machine.get('cpu')} ({machine.get('cpu_count')} cores)"
    versions = ", ".join(
        f"{name} {machine[key]}"
        for key, name in [
            ("torch", "torch"),
            ("transformers", "transformers"),
            ("stable_baselines3", "SB3"),
            ("textgym", "textgym"),
        ]
        if machine.get(key)
    )
    return f"{cpu}, {machine.get('threads')} torch threads, {machine.get('device')}; {versions}"


def settings_text(settings: dict) -> str:
    """``key=value, ...`` for a benchmark's settings."""
    return ", ".join(f"{k}={v}" for k, v in settings.items())


@table("bench")
def bench_table(ctx: Context, path: str, *keys: str) -> str:
    """A benchmark result (benchmarks/common.py ``record``): figure | value, then its source.

    ARGS: ``FILE [KEY ...]``; KEYs pick and order the figures (default: all, as recorded).
    """
    result = load_json(ctx, path)
    figures = result["figures"]
    rows = [[label(result["bench"], k), fmt(figures[k])] for k in (keys or figures)]
    more = f"{machine_text(result['machine'])}; settings: {settings_text(result['settings'])}"
    return (
        markdown_table(["figure", "value"], rows)
        + "\n\n"
        + source(ctx, path, date_of(result), more)
    )


@table("gpu_check")
def gpu_check_table(ctx: Context, path: str) -> str:
    """The summary ``benchmarks/gpu_check.sh`` writes: one row per benchmark run.

    ARGS: ``FILE``.
    """
    report = load_json(ctx, path)
    rows = []
    for rec in report["records"]:
        settings = rec["settings"]
        shape = ", ".join(f"{k} {settings[k]}" for k in ("prompt", "episodes") if k in settings)
        figures = "; ".join(
            f"{label(rec['bench'], k)}: {fmt(v)}" for k, v in rec["figures"].items()
        )
        rows.append([rec["bench"], settings.get("dtype", ""), shape, figures])
    failed = ", ".join(report.get("failed_steps") or []) or "none"
    more = f"{report.get('gpu')}, torch {report.get('torch')}; failed steps: {failed}"
    return (
        markdown_table(["benchmark", "dtype", "settings", "figures"], rows)
        + "\n\n"
        + source(ctx, path, date_of(report), more)
    )


# ---------------------------------------------------------------- experiment results


def is_heading(line: str, heading: str) -> bool:
    """Whether ``line`` is a Markdown heading whose text is ``heading``."""
    return line.startswith("#") and line.lstrip("#").strip() == heading


@table("report")
def report_table(ctx: Context, path: str, heading: str | None = None) -> str:
    """The first Markdown table under ``## HEADING`` of a generated report (or of the file).

    ARGS: ``FILE [HEADING]``, e.g. a ``textgym compare`` report.md and "Held-out metrics".
    """
    lines = ctx.artifact(path).read_text(encoding="utf-8").splitlines()
    start = 0
    if heading is not None:
        marks = [i for i, line in enumerate(lines) if is_heading(line, heading)]
        if not marks:
            raise ValueError(f"{path} has no heading {heading!r}")
        start = marks[0] + 1
    found: list[str] = []
    for line in lines[start:]:
        if line.startswith("|"):
            found.append(line)
        elif found or (heading is not None and line.startswith("#")):
            break
    if not found:
        raise ValueError(f"{path} has no table" + (f" under {heading!r}" if heading else ""))
    where = f"section “{heading}”" if heading else ""
    return "\n".join(found) + "\n\n" + source(ctx, path, more=where)


@table("compare_runs")
def compare_runs_table(ctx: Context, path: str, *metrics: str) -> str:
    """Per-run gains from a ``textgym compare`` results.csv: one row per configuration × metric.

    ARGS: ``FILE METRIC [METRIC ...]``. Columns: the initial and trained values (means over the
    configuration's runs), each run's gain in seed order, and their mean.
    """
    with ctx.artifact(path).open(encoding="utf-8", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["metric"] in metrics]
    out = []
    for config in sorted({r["cell"] for r in rows}):
        for metric in metrics:
            runs = sorted(
                (r for r in rows if r["cell"] == config and r["metric"] == metric),
                key=lambda r: int(r["seed"]),
            )
            if not runs:
                continue
            gains = [float(r["gain"]) for r in runs]
            initial = statistics.mean(float(r["initial"]) for r in runs)
            trained = statistics.mean(float(r["trained"]) for r in runs)
            seeds = ", ".join(f"{fmt(g, '+.4f')}" for g in gains)
            out.append(
                [
                    config,
                    metric,
                    fmt(initial, ".4f"),
                    fmt(trained, ".4f"),
                    seeds,
                    fmt(statistics.mean(gains), "+.4f"),
                ]
            )
    header = ["configuration", "metric", "initial", "trained (mean)", "gain per seed", "mean gain"]
    return markdown_table(header, out) + "\n\n" + source(ctx, path)


@table("validity")
def validity_table(ctx: Context, path: str, level: str = "system", stat: str = "kendall") -> str:
    """A ``textgym validate-rewards`` validity.csv: reward × human column at one level.

    ARGS: ``FILE [system|summary] [kendall|spearman]``. Cells: the correlation and its 95 %
    bootstrap interval over documents.
    """
    with ctx.artifact(path).open(encoding="utf-8", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["level"] == level]
    if not rows:
        raise ValueError(f"{path} has no {level}-level row")
    humans = list(dict.fromkeys(r["human"] for r in rows))
    found = {(r["reward"], r["human"]): r for r in rows}
    out = []
    for reward in dict.fromkeys(r["reward"] for r in rows):
        cells = []
        for human in humans:
            r = found.get((reward, human))
            if r is None:
                cells.append("—")
                continue
            ci = interval(float(r[f"{stat}_low"]), float(r[f"{stat}_high"]), "+.3f")
            cells.append(f"{fmt(float(r[stat]), '+.3f')} {ci}")
        out.append([reward, *cells])
    return markdown_table(["reward", *humans], out) + "\n\n" + source(ctx, path)


def is_pair(value: object) -> bool:
    """Whether ``value`` is a two-number list (an interval)."""
    return isinstance(value, list) and len(value) == 2


@table("json_columns")
def json_columns_table(ctx: Context, path: str, *args: str) -> str:
    """A JSON object of objects as a table: one column per outer key, one row per inner key.

    ARGS: ``FILE [path=KEY/...] [prefix=TEXT] [rows=KEY,KEY,...]``: the object at ``path``,
    ``prefix`` before each column's name, only (and in this order) the inner keys ``rows``
    (default: every key whose value is a number or a list of numbers).
    """
    _, opts = options(args)
    data = load_json(ctx, path)
    columns = at(data, opts.get("path", ""))
    first = next(iter(columns.values()))
    keys = (
        opts["rows"].split(",")
        if "rows" in opts
        else [k for k, v in first.items() if isinstance(v, (int, float, list)) and k != "samples"]
    )
    body = []
    for key in keys:
        values = [c[key] for c in columns.values()]
        body.append([key] + [interval(*v, "+.3f") if is_pair(v) else fmt(v) for v in values])
    header = [""] + [opts.get("prefix", "") + name for name in columns]
    return markdown_table(header, body) + "\n\n" + source(ctx, path, date_of(data))


@table("text")
def text_block(ctx: Context, path: str, key_path: str) -> str:
    """A text stored in a JSON artifact (e.g. a transcript), as a code block.

    ARGS: ``FILE KEY/PATH``.
    """
    data = load_json(ctx, path)
    text = at(data, key_path)
    if not isinstance(text, str):
        raise ValueError(f"{key_path} of {path} is not a text")
    return f"```text\n{text}\n```\n\n" + source(ctx, path, date_of(data))


@table("json_samples")
def json_samples_table(ctx: Context, path: str, key: str, *args: str) -> str:
    """The lists under ``KEY`` of each outer object, side by side (e.g. generated samples).

    ARGS: ``FILE KEY [prefix=TEXT]``.
    """
    _, opts = options(args)
    data = load_json(ctx, path)
    columns = {name: value[key] for name, value in data.items() if isinstance(value, dict)}
    length = max(len(v) for v in columns.values())
    body = [
        [str(i + 1)] + [v[i] if i < len(v) else "" for v in columns.values()] for i in range(length)
    ]
    header = ["#"] + [opts.get("prefix", "") + name for name in columns]
    return markdown_table(header, body) + "\n\n" + source(ctx, path, date_of(data))


@table("json_table")
def json_table(ctx: Context, path: str, key_path: str = "") -> str:
    """The object at ``KEY_PATH`` of a JSON artifact as setting | value, values as stored.

    ARGS: ``FILE [KEY_PATH]``.
    """
    data = load_json(ctx, path)

    def flat(obj: dict, prefix: str = "") -> list[list[str]]:
        rows = []
        for k, v in obj.items():
            if isinstance(v, dict) and v:
                rows += flat(v, f"{prefix}{k}.")
            else:
                rows.append([f"{prefix}{k}", v if isinstance(v, str) else json.dumps(v)])
        return rows

    return (
        markdown_table(["setting", "value"], flat(at(data, key_path)))
        + "\n\n"
        + source(ctx, path, date_of(data))
    )


def rate(count: int, n: int, ci: list[float]) -> str:
    """``8/9 = 0.89 [0.57, 0.98]``: a proportion with its Wilson interval."""
    return f"{count}/{n} = {fmt(count / n, '.2f')} {interval(*ci, '.2f')}"


@table("calibration")
def calibration_table(ctx: Context, path: str) -> str:
    """A hacking calibration (examples/calibrate_hacking.py): one row per signal, then "any".

    ARGS: ``FILE``.
    """
    data = load_json(ctx, path)
    rewards = [*data["positives"], *data["negatives"]]
    rows = []
    for name, e in [*data["signals"].items(), ("any used signal", data["any"])]:
        threshold = fmt(e["threshold"], "+.4g") if "threshold" in e else "—"
        used = ("yes" if e["used"] else "no") if "used" in e else "—"
        fired = [e["per_reward"][r] for r in rewards]
        tpr = rate(e["tp"], e["n_pos"], e["tpr_ci"])
        fpr = rate(e["fp"], e["n_neg"], e["fpr_ci"])
        rows.append([name, threshold, tpr, fpr, used, *fired])
    header = ["signal", "threshold", "TPR (canary runs)", "FPR (clean runs)", "used", *rewards]
    return markdown_table(header, rows) + "\n\n" + source(ctx, path, date_of(data))


@table("calibration_runs")
def calibration_runs_table(ctx: Context, path: str) -> str:
    """Every run's signal values in a hacking calibration. ARGS: ``FILE``."""
    data = load_json(ctx, path)
    signals = list(data["signals"])
    rows = [
        [r["reward"], str(r["seed"]), "hack" if r["hack"] else "clean"]
        + [fmt(r.get(s), "+.3f") for s in signals]
        for r in data["runs"]
    ]
    return (
        markdown_table(["reward", "seed", "label", *signals], rows)
        + "\n\n"
        + source(ctx, path, date_of(data))
    )


@table("frontier")
def frontier_table(ctx: Context, path: str, reward: str) -> str:
    """One reward's KL frontier (examples/kl_frontier.py). ARGS: ``FILE REWARD``."""
    data = load_json(ctx, path)

    def shown(g: dict, spec: str = "+.3f") -> str:
        seeds = g.get("seed_ci95")
        by_seed = "" if seeds is None else f" seeds {interval(*seeds, spec)}"
        mark = "**sig**" if g["significant"] else "n.s."
        return f"{fmt(g['mean'], spec)} {interval(*g['ci95'], spec)}{by_seed} {mark}"

    rows = []
    for name, c in data["cells"][reward].items():
        kept = c.get("kept_of_unpenalised_gain")
        rows.append(
            [
                name,
                str(len(c["seeds"])),
                shown(c["own_reward"]),
                shown(c["kl_to_init_exact"]),
                shown(c["mean_new_tokens"], "+.1f"),
                shown(c["metric_drop"]) if "metric_drop" in c else "—",
                "—" if kept is None else fmt(kept, ".0%"),
                c["verdict"],
            ]
        )
    header = ["penalty", "seeds", "own-reward gain", "KL (nats/token)", "length (tokens)"]
    header += ["independent-metric drop", "kept of β=0 gain", "hacking verdict"]
    return markdown_table(header, rows) + "\n\n" + source(ctx, path, date_of(data))


def rm_row(name: str, m: dict) -> list[str]:
    """One reward model's held-out figures (a ``textgym train-rm`` metrics.json)."""
    acc, minus = m["heldout"]["accuracy"], m["heldout"]["minus_longer_wins"]["trained"]["all"]

    def wilson(entry: dict) -> str:
        if entry["accuracy"] is None:  # no pairs of this kind
            return f"— (n={entry['n']})"
        return f"{fmt(entry['accuracy'], '.3f')} {interval(*entry['ci'])} (n={entry['n']})"

    difference = "—"
    if minus["difference"] is not None:
        difference = f"{fmt(minus['difference'], '+.3f')} {interval(*minus['ci'], '+.3f')}"
    return [
        name,
        str(m["n_train"]),
        wilson(acc["trained"]["all"]),
        wilson(acc["longer_wins"]["all"]),
        difference,
        wilson(acc["trained"]["length_matched"]),
        wilson(acc["longer_wins"]["length_matched"]),
        fmt(m["length_fit"]["r2"], ".2f"),
        f"{fmt(m['loss_first_10pct'], '.3f')} → {fmt(m['loss_last_10pct'], '.3f')}",
    ]


RM_HEADER = [
    "option",
    "training pairs",
    "held-out accuracy",
    "“longer wins”",
    "minus “longer wins”",
    "length-matched: model",
    "length-matched: “longer wins”",
    "R² on length",
    "loss, first → last 10 % of steps",
]


@table("rm_options")
def rm_options_table(ctx: Context, path: str) -> str:
    """Every option of ``examples/rm_length_options.py``'s results.json, one row each.

    ARGS: ``FILE``.
    """
    results = load_json(ctx, path)
    rows = [rm_row(name, metrics) for name, metrics in results.items()]
    return markdown_table(RM_HEADER, rows) + "\n\n" + source(ctx, path)


@table("rm_curve")
def rm_curve_table(ctx: Context, *paths: str) -> str:
    """A learning curve: one row per train-rm metrics file, by training pairs.

    ARGS: ``FILE[#KEY] ...``; ``#KEY`` picks one entry of a results.json of several runs.
    """
    rows, links = [], []
    for spec in paths:
        path, _, key = spec.partition("#")
        metrics = load_json(ctx, path)
        metrics = metrics[key] if key else metrics
        rows.append(rm_row(f"{metrics['n_train']} pairs", metrics)[1:])
        links.append(ctx.link(path) + (f" (“{key}”)" if key else ""))
    header = ["training pairs"] + RM_HEADER[2:]
    return markdown_table(header, rows) + "\n\nSource: " + ", ".join(links) + "."


# ---------------------------------------------------------------- inline values


def inline(ctx: Context, path: str, text: str, date: str | None) -> str:
    """A value linked to its artifact, the date (if any) as the link's title."""
    linked = ctx.link(path)
    if not linked.startswith("["):
        return f"{text} (recorded {date})" if date else text
    target = linked[linked.index("](") + 2 : -1]
    title = f' "recorded {date}"' if date else ""
    return f"[{text}]({target}{title})"


@fig("json")
def json_fig(ctx: Context, path: str, key_path: str, spec: str | None = None) -> str:
    """One number of a JSON artifact. ARGS: ``FILE KEY/PATH [FORMAT]`` (e.g. ``+.3f``)."""
    data = load_json(ctx, path)
    return inline(ctx, path, fmt(at(data, key_path), spec), date_of(data))


@fig("csv_mean")
def csv_mean_fig(ctx: Context, path: str, column: str, *args: str) -> str:
    """The mean of ``COLUMN`` over the CSV rows matching every ``field=value`` filter.

    ARGS: ``FILE COLUMN [field=value ...] [format=SPEC]``.
    """
    _, filters = options(args)
    spec = filters.pop("format", None)
    with ctx.artifact(path).open(encoding="utf-8", newline="") as f:
        rows = [r for r in csv.DictReader(f) if all(r[k] == v for k, v in filters.items())]
    if not rows:
        raise ValueError(f"no row of {path} matches {filters}")
    return inline(ctx, path, fmt(statistics.mean(float(r[column]) for r in rows), spec), None)


# ---------------------------------------------------------------- pages


def pages(root: Path) -> list[Path]:
    """README.md and every Markdown page under docs/."""
    found = [root / "README.md"] if (root / "README.md").is_file() else []
    return found + sorted((root / "docs").rglob("*.md"))


def render(ctx: Context, kind: str, spec: str) -> str:
    """A region's new content (between its markers) from its artifact."""
    name, *args = shlex.split(spec)
    registry = TABLES if kind == "table" else FIGS
    if name not in registry:
        known = ", ".join(sorted(registry))
        raise UnknownRenderer(f"unknown {kind} renderer {name!r} (known: {known})")
    out = registry[name](ctx, *args)
    return f"\n\n{out}\n\n" if kind == "table" else out


def missing_text(kind: str, path: str) -> str:
    """What a region shows while its artifact does not exist."""
    text = f"Not recorded yet: `{path}` does not exist."
    return f"\n\n*{text}*\n\n" if kind == "table" else "(not recorded yet)"


def update(ctx: Context, text: str) -> tuple[str, list[str]]:
    """The page's text with every region regenerated, and the problems found on the way."""
    problems: list[str] = []
    page = ctx.page.relative_to(ctx.root).as_posix()

    def replace(match: re.Match) -> str:
        kind, spec = match["kind"], match["spec"]
        where = f"{page}: {kind} “{spec}”"
        try:
            body = render(ctx, kind, spec)
        except Missing as missing:
            problems.append(f"{where}: artifact missing: {missing}")
            body = missing_text(kind, str(missing))
        except Exception as error:  # a renderer's error names the region, then the cause
            problems.append(f"{where}: {type(error).__name__}: {error}")
            return match[0]
        return f"<!-- {kind}: {spec} -->{body}<!-- /{kind} -->"

    parts, last, prose = [], 0, []
    for fence in FENCE.finditer(text):  # code blocks may show the markers as examples
        prose.append(text[last : fence.start()])
        parts += [REGION.sub(replace, prose[-1]), fence[0]]
        last = fence.end()
    prose.append(text[last:])
    parts.append(REGION.sub(replace, prose[-1]))
    for kind in ("table", "fig"):
        opened = sum(m[1] == kind for chunk in prose for m in OPENING.finditer(chunk))
        if opened != sum(m[1] == kind for chunk in prose for m in CLOSING.finditer(chunk)):
            problems.append(f"{page}: a “{kind}” region is not closed")
    return "".join(parts), problems


def check(root: Path = ROOT) -> list[str]:
    """Every problem of every page: regions that differ from their artifacts, or cannot render."""
    problems = []
    for path in pages(root):
        text = path.read_text(encoding="utf-8")
        new, found = update(Context(root, path), text)
        problems += found
        page = path.relative_to(root).as_posix()
        for old, regenerated in zip(REGION.finditer(text), REGION.finditer(new), strict=True):
            where = f"{page}: {old['kind']} “{old['spec']}”"
            if old[0] != regenerated[0] and not any(p.startswith(where) for p in found):
                problems.append(f"{where}: differs from its artifact (run python docs/tables.py)")
    return problems


def regenerate(root: Path = ROOT) -> tuple[list[Path], list[str]]:
    """Rewrite every region from its artifact; returns (pages changed, problems)."""
    changed, problems = [], []
    for path in pages(root):
        text = path.read_text(encoding="utf-8")
        new, found = update(Context(root, path), text)
        problems += found
        if new != text:
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(new)
            os.replace(tmp, path)
            changed.append(path)
    return changed, problems


def main(argv: list[str] | None = None) -> int:
    """Regenerate (or ``--check``) the pages; exit status 1 when any problem remains."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="change nothing; list problems")
    parser.add_argument("--root", type=Path, default=ROOT, help="the repository root")
    args = parser.parse_args(argv)
    if args.check:
        problems = check(args.root)
    else:
        changed, problems = regenerate(args.root)
        for path in changed:
            print(f"updated {path.relative_to(args.root)}")
    for problem in problems:
        print(problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
