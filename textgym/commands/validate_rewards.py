"""``textgym validate-rewards``: correlate rewards with human judgments of summaries."""

from __future__ import annotations

import argparse

from textgym.commands.config_options import nonempty
from textgym.errors import ConfigError
from textgym.rewards.multi_reference import MULTI_REFERENCE_RULES
from textgym.rewards.spec import split_reward_list
from textgym.validity import ValidityResult, validate_rewards
from textgym.validity.run import check_arguments


def _names(text: str) -> list[str]:
    """Comma-separated names (human columns)."""
    names = [part.strip() for part in text.split(",") if part.strip()]
    if not names:
        raise argparse.ArgumentTypeError(f"{text!r} names nothing; write e.g. rouge1,rougeL")
    return names


def _rewards(text: str) -> list[str]:
    """Reward specs, split as ``compare --rewards`` splits them (``clf:M[a=1,b=2]`` is one)."""
    try:
        return list(split_reward_list(text))
    except ConfigError as exc:  # argparse shows only an ArgumentTypeError's own message
        raise argparse.ArgumentTypeError(str(exc)) from exc


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Add the options of ``textgym validate-rewards`` to ``p``."""
    p.add_argument(
        "--judgments",
        type=nonempty,
        required=True,
        help="JSONL: doc_id, system, source, summary, reference (a string or list) or "
        "references (a list), numeric human scores",
    )
    p.add_argument(
        "--rewards",
        type=_rewards,
        default=["rouge1", "rougeL", "bleu", "chrf"],
        help="comma-separated reward specs, as compare --rewards takes them "
        "(default: rouge1,rougeL,bleu,chrf)",
    )
    p.add_argument(
        "--human-columns",
        type=_names,
        default=None,
        help="comma-separated human score columns (default: every numeric column)",
    )
    p.add_argument("--bootstrap", type=int, default=1000, help="resamples of the documents")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch-size", type=int, default=256, help="summaries per reward call")
    p.add_argument(
        "--out", type=nonempty, default=None, help="folder for validity.csv/.json and the heatmap"
    )
    p.add_argument(
        "--multi-reference",
        type=nonempty,
        choices=MULTI_REFERENCE_RULES,
        default=None,
        help="with several references: score the best match (max) or the mean over them "
        "(default: each reward's own; max for ROUGE and chrF, sacrebleu's native for BLEU)",
    )


def print_report(result: ValidityResult) -> None:
    """Print one table per level: Kendall tau and Spearman rho with 95% intervals."""
    from rich.console import Console
    from rich.table import Table

    console = Console()
    counts = f"{result.n_documents} documents, {result.n_systems} systems"
    for level in ("system", "summary"):
        table = Table(title=f"{level}-level correlation with humans ({counts})")
        for column in ("reward", "human", "Kendall tau [95% CI]", "Spearman rho [95% CI]", "n"):
            table.add_column(column, justify="left" if column in ("reward", "human") else "right")
        for c in result.correlations:
            if c.level == level:
                table.add_row(
                    c.reward,
                    c.human,
                    _with_interval(c.kendall, c.kendall_low, c.kendall_high),
                    _with_interval(c.spearman, c.spearman_low, c.spearman_high),
                    str(c.n),
                )
        console.print(table)
    for kind, path in result.files.items():
        console.print(f"{kind:>8}: {path}")


def _with_interval(value: float, low: float, high: float) -> str:
    if value != value:  # NaN: undefined (constant scores)
        return "n/a"
    if low != low:
        return f"{value:+.3f}"
    return f"{value:+.3f} [{low:+.2f}, {high:+.2f}]"


def run(args: argparse.Namespace) -> None:
    """Run ``textgym validate-rewards`` with parsed ``args``."""
    check_arguments(args.rewards, args.bootstrap, None, args.seed, args.batch_size)
    result = validate_rewards(
        args.judgments,
        args.rewards,
        human_columns=args.human_columns,
        bootstrap=args.bootstrap,
        seed=args.seed,
        batch_size=args.batch_size,
        out=args.out,
        multi_reference=args.multi_reference,
    )
    print_report(result)
