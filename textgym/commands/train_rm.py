"""``textgym train-rm``: train a reward model on preference pairs (Bradley-Terry loss)."""

from __future__ import annotations

import argparse

from textgym.reward_model_training import RMConfig, RMResult, train_reward_model


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Add the options of ``textgym train-rm`` to ``p``."""
    d = RMConfig(pairs="")
    p.add_argument("--pairs", required=True, help="JSONL with fields prompt, chosen, rejected")
    p.add_argument("--base", default=d.base, help="embedded name, HF name or path")
    p.add_argument("--out", default=str(d.out), help="output folder (model, tokenizer, metrics)")
    p.add_argument("--epochs", type=int, default=d.epochs)
    p.add_argument("--lr", type=float, default=d.lr, help="peak AdamW learning rate")
    p.add_argument("--batch-size", type=int, default=d.batch_size, help="pairs per step")
    p.add_argument(
        "--max-length", type=int, default=d.max_length, help="tokens; the prompt's start is cut"
    )
    p.add_argument("--val-fraction", type=float, default=d.val_fraction, help="held out")
    p.add_argument("--lora", action="store_true", help="train LoRA adapters, merged on save")
    p.add_argument("--lora-rank", type=int, default=d.lora_rank)
    p.add_argument(
        "--train-layers", type=int, default=None, help="train only the top N layers and the head"
    )
    p.add_argument("--bf16", action="store_true", help="bfloat16 autocast (faster on new CPUs)")
    p.add_argument("--weight-decay", type=float, default=d.weight_decay)
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--limit", type=int, default=None, help="use only the first N pairs")
    p.add_argument("--device", default=d.device)
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def print_report(result: RMResult) -> None:
    """Print held-out pairwise accuracy before/after training and where the files went."""
    from rich.console import Console
    from rich.table import Table

    low, high = result.accuracy_ci
    table = Table(title=f"Held-out pairwise accuracy ({result.n_heldout} pairs)")
    for column in ("model", "accuracy", "95% CI"):
        table.add_column(column, justify="left" if column == "model" else "right")
    table.add_row("initial", f"{result.accuracy_before:.3f}", "")
    table.add_row("trained", f"{result.accuracy_after:.3f}", f"[{low:.3f}, {high:.3f}]")
    console = Console()
    console.print(table)
    console.print(
        f"{result.n_train} training pairs, {len(result.losses)} steps in "
        f"{result.train_seconds:.0f} s"
    )
    for kind, path in result.files.items():
        console.print(f"{kind:>8}: {path}")


def run(args: argparse.Namespace) -> None:
    """Run ``textgym train-rm`` with parsed ``args``."""
    options = vars(args)
    progress = not options.pop("no_progress")
    print_report(train_reward_model(RMConfig(**options), progress_bar=progress))
