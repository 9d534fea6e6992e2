"""``textgym train``: train an LM with stock SB3 PPO and report before/after metrics."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from textgym.commands.config_options import (
    add_config_option,
    add_train_options,
    nonempty,
    train_values,
)
from textgym.errors import ConfigError
from textgym.experiments.grid import SETTINGS_FILE
from textgym.output_lock import locked
from textgym.training import TrainConfig, TrainResult, train
from textgym.training.checkpoints import read_manifest


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Add the options of ``textgym train`` to ``p``: every TrainConfig field and its own."""
    add_train_options(p)
    p.add_argument(
        "--resume",
        type=nonempty,
        metavar="DIR",
        default=None,
        help="continue the interrupted run in DIR (its --out) from its last checkpoint; give "
        "the settings it was started with",
    )
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    add_config_option(p)


def print_report(result: TrainResult) -> None:
    """Print the before/after metric table and where the files went."""
    from rich.console import Console
    from rich.table import Table

    after = result.after
    sampled = f"; *_sample_mean, *_best_of_n: {after.samples} samples" if after.samples else ""
    title = f"Held-out evaluation on {len(after.generations)} examples (greedy{sampled})"
    table = Table(title=title)
    for column in ("metric", "initial", "trained", "change"):
        table.add_column(column, justify="right" if column != "metric" else "left")
    for name, value in result.before.metrics.items():
        new = after.metrics[name]
        if math.isnan(value) and math.isnan(new):
            continue  # e.g. reference metrics on prompt-only data
        table.add_row(name, f"{value:.4f}", f"{new:.4f}", f"{new - value:+.4f}")
    console = Console()
    console.print(table)
    rewards = result.episode_rewards
    if rewards:
        k = max(1, len(rewards) // 5)
        console.print(
            f"training reward: first {k} episodes {sum(rewards[:k]) / k:.4f} -> "
            f"last {k} {sum(rewards[-k:]) / k:.4f}"
        )
    for kind, path in result.files.items():
        console.print(f"{kind:>8}: {path}")


def run(args: argparse.Namespace) -> None:
    """Run ``textgym train`` with parsed ``args``."""
    options = train_values(args)
    options["out"] = output_folder(args.out, args.resume)
    config = TrainConfig(**options)
    resume = args.resume is not None
    with locked(config.out, "train", create=not resume):  # a second train here fails at once
        result = train(config, progress_bar=not args.no_progress, resume=resume)
    print_report(result)


def output_folder(out: str | None, resume: str | None) -> str:
    """The run's folder: ``--resume DIR`` or else ``--out`` (default ``runs/textgym``).

    Raises:
        ConfigError: ``--out`` and ``--resume`` name different folders, or ``--resume``
            names a ``textgym compare`` folder.
    """
    if resume is None:
        return out or TrainConfig.out
    if (Path(resume) / SETTINGS_FILE).is_file():
        raise ConfigError(
            f"--resume {resume} is a `textgym compare` folder, not a train run: to continue "
            f"the comparison, run the same `textgym compare` command (with --out {resume})."
        )
    if out is not None and Path(out).resolve() != Path(resume).resolve():
        raise ConfigError(
            f"--out {out} and --resume {resume} name different folders; a resumed run writes "
            "into the folder it resumes. Drop --out (or give the same folder)."
        )
    return resume


def after_interrupt(args: argparse.Namespace) -> str:
    """What an interrupted ``textgym train`` kept, and the command that continues it."""
    out = args.resume or args.out or TrainConfig.out
    manifest = read_manifest(out)
    if manifest is None:
        return f"no checkpoint was written in {out}, so there is nothing to resume"
    return (
        f"the checkpoint at {manifest.get('num_timesteps', '?')} timesteps is kept in {out}; "
        f"continue with: textgym train --resume {out} (and the same settings)"
    )
