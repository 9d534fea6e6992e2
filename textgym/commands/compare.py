"""``textgym compare``: train one run per (reward, seed), all else equal, and write a report."""

from __future__ import annotations

import argparse
from dataclasses import fields

from textgym.errors import ConfigError
from textgym.experiments import CompareConfig, CompareResult, compare, report
from textgym.experiments.config import BACKENDS
from textgym.rewards.spec import split_reward_list
from textgym.training import TrainConfig

# CLI option -> TrainConfig field, for the training settings every run shares
TRAIN_OPTIONS = (
    "env_id",
    "model",
    "timesteps",
    "n_envs",
    "n_steps",
    "batch_size",
    "n_epochs",
    "learning_rate",
    "max_prompt_tokens",
    "max_new_tokens",
    "dataset",
    "eval_split",
    "eval_examples",
    "kl_coef",
    "target_kl",
    "group_size",
    "advantage",
    "device",
)


def parse_names(text: str) -> tuple[str, ...]:
    """``rouge1,rougeL`` -> ``("rouge1", "rougeL")``; ``rougeL:0.5,chrf:0.5`` -> one sum."""
    try:
        return split_reward_list(text)
    except ConfigError as exc:  # argparse shows only an ArgumentTypeError's own message
        raise argparse.ArgumentTypeError(str(exc)) from exc


def parse_seeds(text: str) -> tuple[int, ...]:
    """``3`` -> ``(0, 1, 2)``; ``0,5,7`` -> ``(0, 5, 7)``."""
    try:
        if "," not in text:
            return tuple(range(int(text)))
        return tuple(int(s) for s in text.split(",") if s.strip())
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            f"--seeds {text!r}: give a count (3 -> seeds 0,1,2) or a list (0,5,7)"
        ) from exc


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Add the options of ``textgym compare`` to ``p``."""
    d, c = TrainConfig(), CompareConfig()
    p.add_argument("--env", dest="env_id", default=d.env_id, help="registered env id")
    p.add_argument(
        "--rewards",
        type=parse_names,
        action="extend",
        default=None,
        help="rewards to compare, one run each: comma-separated (rouge1,rougeL,rm:runs/rm) or "
        "one weighted sum with a weight on every part (rougeL:0.5,chrf:0.5); repeat --rewards "
        "to list more, e.g. --rewards rouge1,rougeL --rewards rougeL:0.5,chrf:0.5 "
        f"(default: {','.join(c.rewards)})",
    )
    p.add_argument("--seeds", type=parse_seeds, default=c.seeds, help="count or list of seeds")
    p.add_argument("--timesteps", type=int, default=d.timesteps, help="env steps per run")
    p.add_argument("--model", default=d.model, help="embedded name, HF name or path")
    p.add_argument("--kl-coef", type=float, default=d.kl_coef, help="β of the KL penalty")
    p.add_argument("--target-kl", type=float, default=None, help="adaptive β's target KL")
    p.add_argument("--group-size", type=int, default=d.group_size, help="samples per prompt")
    p.add_argument(
        "--advantage", default=d.advantage, help="gae, or a group baseline: rloo, grpo, group_mean"
    )
    p.add_argument("--out", default=c.out, help="output folder (re-use it to resume)")
    p.add_argument("--workers", type=int, default=c.workers, help="runs at the same time")
    p.add_argument("--backend", choices=BACKENDS, default=c.backend)
    p.add_argument("--max-runs", type=int, default=None, help="train at most this many runs")
    p.add_argument("--no-keep-models", action="store_true", help="delete weights after eval")
    p.add_argument("--report-only", action="store_true", help="rebuild the report, train none")
    for name in ("n_envs", "n_steps", "batch_size", "n_epochs", "eval_examples"):
        p.add_argument("--" + name.replace("_", "-"), type=int, default=getattr(d, name))
    p.add_argument("--learning-rate", type=float, default=d.learning_rate)
    p.add_argument("--max-prompt-tokens", type=int, default=None)
    p.add_argument("--max-new-tokens", type=int, default=None)
    p.add_argument("--dataset", default=None, help="JSONL/CSV path or HF dataset name")
    p.add_argument("--eval-split", default=d.eval_split)
    p.add_argument("--device", default=d.device)


def base_config(args: argparse.Namespace) -> TrainConfig:
    """The shared :class:`TrainConfig`; KL options only where ``TrainConfig`` has them.

    Raises:
        ConfigError: a KL option is set but this textgym's ``TrainConfig`` lacks it.
    """
    known = {f.name for f in fields(TrainConfig)}
    options = {name: getattr(args, name) for name in TRAIN_OPTIONS}
    missing = [
        k for k in ("kl_coef", "target_kl") if k not in known and options[k] not in (None, 0.0)
    ]
    if missing:
        raise ConfigError(
            f"{', '.join(missing)} is not supported by this textgym's TrainConfig; "
            "upgrade textgym, or leave --kl-coef/--target-kl unset."
        )
    return TrainConfig(**{k: v for k, v in options.items() if k in known})


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
        for kind, path in report(args.out).items():
            print(f"{kind:>16}: {path}")
        return
    config = CompareConfig(
        rewards=tuple(args.rewards or CompareConfig().rewards),
        seeds=args.seeds,
        base=base_config(args),
        out=args.out,
        workers=args.workers,
        backend=args.backend,
        max_runs=args.max_runs,
        keep_models=not args.no_keep_models,
    )
    print_summary(compare(config))
