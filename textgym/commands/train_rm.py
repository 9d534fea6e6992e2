"""``textgym train-rm``: train a reward model on preference pairs (Bradley-Terry loss)."""

from __future__ import annotations

import argparse
from typing import Any

from textgym.commands.config_options import nonempty
from textgym.reward_models import RMConfig, RMResult, train_reward_model
from textgym.reward_models.config import check_config

_SCORERS = {
    "trained": "trained model",
    "initial": "initial model",
    "longer_wins": '"longer wins"',
    "shorter_wins": '"shorter wins"',
}


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Add the options of ``textgym train-rm`` to ``p``."""
    d = RMConfig(pairs="")
    p.add_argument(
        "--pairs", type=nonempty, required=True, help="JSONL with fields prompt, chosen, rejected"
    )
    p.add_argument("--base", type=nonempty, default=d.base, help="embedded name, HF name or path")
    p.add_argument(
        "--out", type=nonempty, default=str(d.out), help="output folder (model, tokenizer, metrics)"
    )
    p.add_argument("--epochs", type=int, default=d.epochs)
    p.add_argument("--lr", type=float, default=d.lr, help="peak AdamW learning rate")
    p.add_argument("--batch-size", type=int, default=d.batch_size, help="pairs per step")
    p.add_argument(
        "--max-length", type=int, default=d.max_length, help="tokens; the prompt's start is cut"
    )
    p.add_argument("--val-fraction", type=float, default=d.val_fraction, help="held out")
    p.add_argument(
        "--split-by",
        type=nonempty,
        default=d.split_by,
        metavar="FIELD[,FIELD]",
        help="hold out whole groups of this field (default: prompt), e.g. worker, or "
        "policy_chosen,policy_rejected for policy pairs",
    )
    p.add_argument("--lora", action="store_true", help="train LoRA adapters, merged on save")
    p.add_argument("--lora-rank", type=int, default=d.lora_rank)
    p.add_argument(
        "--train-layers", type=int, default=None, help="train only the top N layers and the head"
    )
    p.add_argument("--bf16", action="store_true", help="bfloat16 autocast (faster on new CPUs)")
    p.add_argument("--weight-decay", type=float, default=d.weight_decay)
    p.add_argument(
        "--length-decorrelation",
        type=float,
        default=d.length_decorrelation,
        help="weight of |corr(reward, words)| in the loss (ODIN's length term); 0: off",
    )
    p.add_argument(
        "--length-balanced",
        action="store_true",
        help="train on as many pairs where the chosen response is longer as shorter",
    )
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--limit", type=int, default=None, help="use only the first N pairs")
    p.add_argument(
        "--train-pairs",
        type=int,
        default=None,
        help="train on a random N of the training pairs (held-out pairs unchanged)",
    )
    p.add_argument("--device", type=nonempty, default=d.device)
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def print_report(result: RMResult) -> None:
    """Print held-out accuracy beside the length heuristics, the length fit and the files."""
    from rich.console import Console

    console = Console()
    console.print(_accuracy_table(result))
    counts, fit = result.duplicates, result.length_fit
    lines = [
        f"Length-matched: {result.heldout['length_matched_rule']}.",
        f"{counts['lines']} pairs read: {counts['repeated_lines']} repeated judgments "
        f"collapsed, {counts['conflicting']} comparisons judged both ways "
        f"({counts['dropped_ties']} without a majority dropped); held out by "
        f"{result.config.split_by}.",
        f"Trained score vs length on the training responses: {fit['coef']:+.4g} per word "
        f"(R² {fit['r2']:.2f}). Length-corrected reward spec:",
        f"  {fit['reward_spec']}",
        *_balance_lines(result.length_balance),
        f"{result.n_train} training pairs, {len(result.losses)} steps in "
        f"{result.train_seconds:.0f} s",
        *(f"{kind:>8}: {path}" for kind, path in result.files.items()),
    ]
    for line in lines:  # unwrapped, so paths and the spec can be copied
        console.print(line, soft_wrap=True, markup=False, highlight=False)


def _balance_lines(counts: dict[str, int]) -> list[str]:
    if not counts:
        return []
    return [
        f"Length-balanced training pairs: chosen longer in {counts['longer']}, shorter in "
        f"{counts['shorter']}, as long in {counts['equal']}; {counts['dropped']} dropped."
    ]


def _accuracy_table(result: RMResult) -> Any:
    from rich.table import Table

    report = result.heldout
    table = Table(title=f"Held-out pairwise accuracy ({result.n_heldout} pairs)")
    table.add_column("scorer")
    table.add_column(f"all ({report['n_pairs']})", justify="right")
    table.add_column(f"length-matched ({report['n_length_matched']})", justify="right")
    table.add_column('all, minus "longer wins"', justify="right")
    for key, label in _SCORERS.items():
        slices = report["accuracy"][key]
        difference = report["minus_longer_wins"].get(key, {}).get("all")
        table.add_row(
            label, _cell(slices["all"]), _cell(slices["length_matched"]), _difference(difference)
        )
    return table


def _cell(slice_: dict[str, Any]) -> str:
    if slice_["accuracy"] is None:
        return "-"
    low, high = slice_["ci"]
    return f"{slice_['accuracy']:.3f} [{low:.3f}, {high:.3f}]"


def _difference(difference: dict[str, Any] | None) -> str:
    if difference is None or difference["difference"] is None:
        return "-"
    low, high = difference["ci"]
    return f"{difference['difference']:+.3f} [{low:+.3f}, {high:+.3f}]"


def run(args: argparse.Namespace) -> None:
    """Run ``textgym train-rm`` with parsed ``args``."""
    options = vars(args)
    progress = not options.pop("no_progress")
    config = RMConfig(**options)
    check_config(config)  # train_reward_model checks it too; here it is the CLI's first step
    print_report(train_reward_model(config, progress_bar=progress))
