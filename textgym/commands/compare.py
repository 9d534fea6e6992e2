"""``textgym compare``: train one run per (reward, sweep point, seed) and write a report."""

from __future__ import annotations

import argparse

from textgym.comma_lists import split_commas
from textgym.commands.config_options import (
    RepeatedOption,
    add_config_option,
    add_train_options,
    nonempty,
    train_values,
)
from textgym.errors import ConfigError
from textgym.experiments import CompareConfig, CompareResult, compare, report
from textgym.experiments.axes import parse_axis
from textgym.experiments.config import BACKENDS, SEARCHES, VARIED
from textgym.rewards.spec import check_model_folders, split_reward_list
from textgym.training import TrainConfig

TRAIN_GROUP = "training settings every run shares (those of textgym train)"


def parse_names(text: str) -> tuple[str, ...]:
    """``rouge1,rougeL`` -> ``("rouge1", "rougeL")``; ``rougeL:0.5,chrf:0.5`` -> one sum."""
    try:
        rewards = split_reward_list(text)
        for reward in rewards:
            check_model_folders(reward)
        return rewards
    except ConfigError as exc:  # argparse shows only an ArgumentTypeError's own message
        raise argparse.ArgumentTypeError(str(exc)) from exc


def parse_seeds(text: str) -> tuple[int, ...]:
    """``3`` -> ``(0, 1, 2)`` (a count); ``0,5,7`` -> ``(0, 5, 7)``; ``4,`` -> ``(4,)``."""
    try:
        if "," not in text:
            count = int(text)
            if count < 0:
                raise argparse.ArgumentTypeError(
                    f"--seeds {text}: seeds are integers >= 0, and a single number is a count "
                    "(3 -> seeds 0,1,2)"
                )
            if count == 0:
                raise argparse.ArgumentTypeError(
                    "--seeds 0: a single number is a count of seeds (3 -> seeds 0,1,2), and 0 "
                    "trains nothing; for seed 0 alone write --seeds 0, (a list of one)"
                )
            return tuple(range(count))
        listed = text[:-1] if text.endswith(",") and text.count(",") == 1 else text
        seeds = tuple(int(s) for s in split_commas(listed, "--seeds", "0,5,7"))
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            f"--seeds {text!r}: give a count (3 -> seeds 0,1,2) or a list of integers (0,5,7)"
        ) from exc
    negative = [s for s in seeds if s < 0]
    if negative:
        raise argparse.ArgumentTypeError(
            f"--seeds {text}: seed {negative[0]} is negative; seeds are integers >= 0"
        )
    return seeds


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Add the options of ``textgym compare`` to ``p``: its own and every training option."""
    c = CompareConfig()
    p.add_argument(
        "--rewards",
        type=parse_names,
        action=RepeatedOption,
        extend=True,
        default=None,
        help="rewards to compare, one run each: comma-separated (rouge1,rougeL,rm:runs/rm) or "
        "one weighted sum with a weight on every part (rougeL:0.5,chrf:0.5); repeat --rewards "
        "to list more, e.g. --rewards rouge1,rougeL --rewards rougeL:0.5,chrf:0.5 "
        f"(default: {','.join(c.rewards)})",
    )
    p.add_argument(
        "--seeds",
        type=parse_seeds,
        default=c.seeds,
        help="a count (3: seeds 0,1,2) or a comma list of seeds (0,5,7; one seed: 4,); "
        "write --seeds=LIST when it starts with '-'",
    )
    p.add_argument(
        "--out", type=nonempty, default=c.out, help="output folder (re-use it to resume)"
    )
    p.add_argument("--workers", type=int, default=c.workers, help="runs at the same time")
    p.add_argument("--backend", type=nonempty, choices=BACKENDS, default=c.backend)
    p.add_argument(
        "--gpus-per-run",
        type=float,
        default=c.gpus_per_run,
        help="GPUs reserved per run (0: none). Local: a whole number, or 1/k (0.5: two runs "
        "share a GPU); workers get CUDA_VISIBLE_DEVICES round-robin. Ray: any fraction or count",
    )
    p.add_argument(
        "--ray-address",
        type=nonempty,
        default=None,
        metavar="HOST:PORT",
        help="Ray cluster to run on (with --backend ray), as `ray start --head` prints it; "
        "default: RAY_ADDRESS, else a Ray on this machine",
    )
    p.add_argument("--max-runs", type=int, default=None, help="train at most this many runs")
    p.add_argument("--no-keep-models", action="store_true", help="delete weights after eval")
    p.add_argument("--report-only", action="store_true", help="rebuild the report, train none")
    p.add_argument(
        "--check-dataset",
        type=nonempty,
        default=None,
        help="a second held-out JSONL/CSV path or HF dataset name (e.g. the test split beside "
        "a validation --eval-dataset): every run is evaluated on both, and the report says "
        "whether each gain replicates",
    )
    add_train_options(p, exclude=VARIED, title=TRAIN_GROUP)
    add_sweep_arguments(p)
    add_config_option(p)


def add_sweep_arguments(p: argparse.ArgumentParser) -> None:
    """Add the sweep options: axes, search and ranking."""
    c = CompareConfig()
    g = p.add_argument_group("sweeps beyond reward and seed")
    g.add_argument(
        "--grid",
        action=RepeatedOption,
        default=[],
        metavar="NAME=VALUES",
        help="vary a training setting: NAME=A,B,C (every combination of the --grid axes is "
        "trained) or, with --search, NAME=LOW..HIGH[:log]; repeat for more axes, e.g. "
        "--grid learning_rate=1e-5,5e-6 --grid kl_coef=0,0.05",
    )
    g.add_argument(
        "--search",
        type=nonempty,
        choices=SEARCHES,
        default=None,
        help="draw --trials configurations from the --grid axes instead of all: random or "
        "tpe (Bayesian, Optuna's TPE; needs textgym[search])",
    )
    g.add_argument("--trials", type=int, default=c.trials, help="configurations a search trains")
    g.add_argument("--search-seed", type=int, default=c.search_seed)
    g.add_argument(
        "--rank-by",
        type=nonempty,
        default=c.rank_by,
        help="metric whose held-out gain ranks configurations (and a search maximises)",
    )


def parse_grid(texts: list[str]) -> dict[str, object]:
    """``["learning_rate=1e-5,5e-6", ...]`` -> the axes; each setting at most once.

    Raises:
        ConfigError: an axis is malformed or given twice.
        UnknownNameError: an unknown setting name.
    """
    grid: dict[str, object] = {}
    for text in texts:
        name, axis = parse_axis(text)
        if name in grid:
            raise ConfigError(f"--grid gives {name!r} twice; list all its values in one --grid.")
        grid[name] = axis
    return grid


def base_config(args: argparse.Namespace) -> TrainConfig:
    """The :class:`TrainConfig` every run shares (:data:`VARIED` fields: their defaults)."""
    return TrainConfig(**train_values(args, exclude=VARIED))


def print_summary(result: CompareResult) -> None:
    """Print what ran and where the report is."""
    from rich.console import Console

    console = Console()
    console.print(
        f"trained {len(result.trained)} runs, skipped {len(result.skipped)} finished, "
        f"{len(result.pending)} pending; {len(result.records)} runs in the report"
    )
    for kind, path in result.files.items():
        console.print(f"{kind:>16}: {path}")


def run(args: argparse.Namespace) -> None:
    """Run ``textgym compare`` with parsed ``args``."""
    if args.report_only:
        for kind, path in report(args.out, rank_by=args.rank_by).items():
            print(f"{kind:>16}: {path}")
        return
    config = CompareConfig(
        rewards=tuple(args.rewards or CompareConfig().rewards),
        seeds=args.seeds,
        base=base_config(args),
        out=args.out,
        workers=args.workers,
        backend=args.backend,
        gpus_per_run=args.gpus_per_run,
        ray_address=args.ray_address,
        max_runs=args.max_runs,
        keep_models=not args.no_keep_models,
        grid=parse_grid(args.grid),
        search=args.search,
        trials=args.trials,
        search_seed=args.search_seed,
        rank_by=args.rank_by,
        check_dataset=args.check_dataset,
    )
    print_summary(compare(config))


def after_interrupt(args: argparse.Namespace) -> str:
    """What an interrupted ``textgym compare`` kept, and how to continue it."""
    return (
        f"finished runs are kept in {args.out}; run the same command again to train only "
        "the missing runs"
    )
