"""The settings of held-out evaluation, checked in one place for the API and the CLI."""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np

from textgym.errors import ConfigError, unknown_name
from textgym.evaluation.evaluate import EVAL_METRICS

#: Metrics a periodic evaluation can select the best checkpoint and stop early on.
SELECTION_METRICS = (*EVAL_METRICS, "own_reward", "corpus_bleu")


def check_eval_settings(
    eval_every: Any = None,
    patience: Any = None,
    kl_budget: Any = None,
    eval_metric: Any = "own_reward",
    eval_samples: Any = 0,
) -> None:
    """Raise an error naming the first unusable evaluation setting and its fix.

    Args:
        eval_every: Timesteps between periodic evaluations (an int >= 1), or None for none.
        patience: Stop after this many evaluations without improvement (an int >= 1), or
            None; needs ``eval_every``.
        kl_budget: Stop once the KL to the initial model (exact, nats per token) exceeds
            this (a finite number > 0), or None; needs ``eval_every``.
        eval_metric: The metric whose best value is kept (see :data:`SELECTION_METRICS`).
        eval_samples: Sampled outputs per prompt besides the greedy one (an int >= 0).

    Raises:
        ConfigError: a value of the wrong type or range, or patience / KL budget without
            periodic evaluation.
        UnknownNameError: an unknown ``eval_metric`` (close names are suggested).
    """
    _check_int("eval_samples", eval_samples, 0, "sampled outputs per prompt (0: greedy only)")
    for name, value in (("eval_every", eval_every), ("patience", patience)):
        if value is not None:
            _check_int(name, value, 1, "leave it unset to turn it off")
    if kl_budget is not None and not _positive_number(kl_budget):
        raise ConfigError(
            f"kl_budget={kl_budget!r} (--kl-budget) must be a finite number > 0: the KL to the "
            "initial model (nats per token) at which training stops, e.g. 0.2."
        )
    if eval_every is None and (patience is not None or kl_budget is not None):
        which = "patience (--patience)" if patience is not None else "kl_budget (--kl-budget)"
        raise ConfigError(
            f"{which} acts on periodic evaluations, but eval_every (--eval-every) is unset; "
            "set --eval-every N (timesteps between evaluations), or drop the option."
        )
    if eval_metric not in SELECTION_METRICS:
        raise unknown_name(
            "eval metric", str(eval_metric), SELECTION_METRICS, "Pass one of them (--eval-metric)."
        )


def _check_int(name: str, value: Any, minimum: int, hint: str) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        option = "--" + name.replace("_", "-")
        raise ConfigError(f"{name}={value!r} ({option}) must be an integer >= {minimum}; {hint}.")


def _positive_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and 0 < value < math.inf
