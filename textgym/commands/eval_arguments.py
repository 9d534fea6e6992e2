"""The held-out evaluation options shared by ``textgym train`` and ``textgym compare``."""

from __future__ import annotations

import argparse

from textgym.evaluation.settings import SELECTION_METRICS
from textgym.training import TrainConfig

# TrainConfig fields set by the options of add_eval_arguments
EVAL_OPTIONS = (
    "eval_dataset",
    "eval_split",
    "eval_examples",
    "eval_samples",
    "eval_every",
    "eval_metric",
    "patience",
    "kl_budget",
)


def add_eval_arguments(p: argparse.ArgumentParser) -> None:
    """Add the evaluation options (:data:`EVAL_OPTIONS`) to ``p``."""
    d = TrainConfig()
    g = p.add_argument_group("held-out evaluation")
    g.add_argument(
        "--eval-dataset",
        default=None,
        help="held-out JSONL/CSV path or HF dataset name, with the fields the task needs "
        "(default: the --eval-split of --dataset)",
    )
    g.add_argument("--eval-split", default=d.eval_split, help="split of a hub/shipped dataset")
    g.add_argument(
        "--eval-examples", type=int, default=d.eval_examples, help="held-out examples evaluated"
    )
    g.add_argument(
        "--eval-samples",
        type=int,
        default=d.eval_samples,
        help="also sample N outputs per prompt: report their mean and best-of-N (0: greedy only)",
    )
    g.add_argument(
        "--eval-every", type=int, default=None, help="evaluate every N timesteps during training"
    )
    g.add_argument(
        "--eval-metric",
        default=d.eval_metric,
        help=f"metric of the best checkpoint and early stopping: {', '.join(SELECTION_METRICS)}",
    )
    g.add_argument(
        "--patience", type=int, default=None, help="stop after N evaluations without a new best"
    )
    g.add_argument(
        "--kl-budget",
        type=float,
        default=None,
        help="stop once the KL to the initial model exceeds this (nats per token)",
    )
