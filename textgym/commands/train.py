"""``textgym train``: train an LM with stock SB3 PPO and report before/after metrics."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from textgym.commands.eval_arguments import add_eval_arguments
from textgym.errors import ConfigError
from textgym.rewards.spec import parse_reward_spec
from textgym.training import TrainConfig, TrainResult, train


def parse_reward(text: str) -> str:
    """Check a reward spec (see :mod:`textgym.rewards.spec`) and return it as given."""
    try:
        parse_reward_spec(text)
    except ConfigError as exc:  # argparse shows only an ArgumentTypeError's own message
        raise argparse.ArgumentTypeError(str(exc)) from exc
    return text


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Add the options of ``textgym train`` to ``p``."""
    d = TrainConfig()
    p.add_argument("--env", dest="env_id", default=d.env_id, help="registered env id")
    p.add_argument(
        "--reward",
        type=parse_reward,
        default=None,
        help="a reward: NAME, evaluate:PATH_OR_NAME, rm:PATH_OR_NAME, or a weighted sum "
        "with a weight on every part, e.g. rougeL:0.7,chrf:0.3 or rm:runs/rm:0.5,rougeL:0.5 "
        "(default: the env's)",
    )
    p.add_argument("--model", default=d.model, help="embedded name, HF name or path")
    p.add_argument("--timesteps", type=int, default=d.timesteps, help="total env steps (tokens)")
    p.add_argument("--n-envs", type=int, default=d.n_envs)
    p.add_argument("--n-steps", type=int, default=d.n_steps, help="steps per env per rollout")
    p.add_argument("--batch-size", type=int, default=d.batch_size)
    p.add_argument("--n-epochs", type=int, default=d.n_epochs)
    p.add_argument("--learning-rate", type=float, default=d.learning_rate)
    p.add_argument(
        "--gamma", type=float, default=d.gamma, help="discount (1.0: no bias toward short texts)"
    )
    p.add_argument("--max-prompt-tokens", type=int, default=None)
    p.add_argument("--max-new-tokens", type=int, default=None)
    p.add_argument(
        "--dataset", default=None, help="JSONL/CSV path or HF dataset name (default: shipped data)"
    )
    add_eval_arguments(p)
    p.add_argument("--temperature", type=float, default=d.temperature)
    p.add_argument("--top-k", type=int, default=d.top_k)
    p.add_argument("--top-p", type=float, default=d.top_p)
    p.add_argument(
        "--kl-coef",
        type=float,
        default=d.kl_coef,
        help="β of the per-token KL-to-reference penalty (unset or 0: off; "
        "unset with --target-kl: starts at 0.1)",
    )
    p.add_argument(
        "--target-kl",
        type=float,
        default=None,
        help="target KL per episode (nats): makes β adaptive",
    )
    p.add_argument(
        "--kl-horizon",
        type=float,
        default=d.kl_horizon,
        help="episodes over which the adaptive β responds (Ziegler et al.: 10000)",
    )
    for name, target in (
        ("env_kwargs", "gym.make"),
        ("ppo_kwargs", "stable-baselines3's PPO"),
        ("policy_kwargs", "LMPolicy"),
    ):
        p.add_argument(
            "--" + name.replace("_", "-"),
            type=json_object,
            default={},
            help=f"more keyword arguments for {target}, as a JSON object, "
            "e.g. '{\"ent_coef\": 0.01}'",
        )
    p.add_argument(
        "--group-size",
        type=int,
        default=d.group_size,
        help="samples per prompt: envs in blocks of k sharing each episode's example",
    )
    p.add_argument(
        "--advantage",
        default=d.advantage,
        help="gae (value head), or a group baseline without value head: rloo, grpo, group_mean",
    )
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--device", default=d.device)
    p.add_argument(
        "--out", default=None, help=f"output folder (default: {d.out}; with --resume: DIR)"
    )
    p.add_argument(
        "--checkpoint-every",
        type=int,
        default=None,
        metavar="N",
        help="save a checkpoint to OUT/checkpoints/latest every N timesteps, at rollout "
        "boundaries, and after the last update (default: every 4 rollouts; 0: none)",
    )
    p.add_argument(
        "--resume",
        metavar="DIR",
        default=None,
        help="continue the interrupted run in DIR (its --out) from its last checkpoint; give "
        "the settings it was started with",
    )
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")


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


def json_object(text: str) -> dict:
    """``'{"a": 1}'`` -> ``{"a": 1}``; anything but a JSON object is a usage error."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not JSON ({exc.msg})") from exc
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"{text!r} must be a JSON object, e.g. '{{\"k\": 1}}'")
    return value


def run(args: argparse.Namespace) -> None:
    """Run ``textgym train`` with parsed ``args``."""
    options = vars(args)
    progress = not options.pop("no_progress")
    resume = options.pop("resume")
    options["out"] = output_folder(options["out"], resume)
    config = TrainConfig(**options)
    print_report(train(config, progress_bar=progress, resume=resume is not None))


def output_folder(out: str | None, resume: str | None) -> str:
    """The run's folder: ``--resume DIR`` or else ``--out`` (default ``runs/textgym``).

    Raises:
        ConfigError: ``--out`` and ``--resume`` name different folders.
    """
    if resume is None:
        return out or TrainConfig.out
    if out is not None and Path(out).resolve() != Path(resume).resolve():
        raise ConfigError(
            f"--out {out} and --resume {resume} name different folders; a resumed run writes "
            "into the folder it resumes. Drop --out (or give the same folder)."
        )
    return resume
