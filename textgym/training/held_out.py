"""A training run's held-out evaluation: its data, its settings, its periodic callback.

Evaluation reads ``config.eval_dataset`` when it is set (a JSONL/CSV path or a Hugging Face
hub name, whose ``eval_split`` is read), else the eval split of the training dataset. A
dataset given as one file has no splits, so without ``eval_dataset`` the evaluation would
read the training rows; a warning says so. The first ``eval_examples`` rows are evaluated
(default 100; ``textgym compare`` reports the minimum detectable effect at the size used).
The shipped data has only 20 test rows per task, enough for smoke tests, not for effects.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import gymnasium as gym

from textgym.data.sources import looks_like_path
from textgym.env import ConversationEnv, TextGenEnv
from textgym.errors import DatasetError
from textgym.evaluation.callback import PeriodicEval
from textgym.evaluation.evaluate import EvalResult, Reference, evaluate_lm
from textgym.evaluation.games import evaluate_games
from textgym.training.run_folder import BEST_MODEL, EVAL_HISTORY

if TYPE_CHECKING:
    from textgym.training.config import TrainConfig


def make_eval_env(config: TrainConfig) -> TextGenEnv:
    """The unwrapped env of ``config`` on its held-out data.

    Raises:
        DatasetError: the eval dataset is missing, empty or lacks a field the task needs
            (the message names ``--eval-dataset`` and the field).
    """
    kwargs = config.make_env_kwargs(config.eval_split)
    if config.eval_dataset is None:
        if _split_ignored(config.dataset):
            warnings.warn(
                f"dataset={config.dataset!r} has no splits, so the evaluation reads the rows "
                "training uses; pass eval_dataset (--eval-dataset) with held-out rows to "
                "measure generalisation.",
                stacklevel=2,
            )
        return gym.make(config.env_id, **kwargs).unwrapped
    try:
        return gym.make(config.env_id, **{**kwargs, "dataset": config.eval_dataset}).unwrapped
    except DatasetError as exc:
        raise DatasetError(
            f"eval_dataset={config.eval_dataset!r} (--eval-dataset) cannot serve as held-out "
            f"data for {config.env_id}: {exc}"
        ) from exc


def _split_ignored(dataset: Any) -> bool:
    """Whether ``dataset`` is read whole whatever the split: a file path or a list of rows."""
    if dataset is None:
        return False
    if isinstance(dataset, str):
        return os.path.exists(dataset) or looks_like_path(dataset)
    return isinstance(dataset, (list, tuple)) or hasattr(dataset, "__fspath__")


def eval_options(config: TrainConfig) -> dict[str, Any]:
    """The keyword arguments of :func:`~textgym.evaluation.evaluate_lm` set by ``config``."""
    from textgym.policies.sampling import SamplingConfig

    return {
        "n_examples": config.eval_examples,
        "samples": config.eval_samples,
        "sampling": SamplingConfig(config.temperature, config.top_k, config.top_p),
        "seed": config.seed,
    }


def evaluate_held_out(
    policy: Any, env: TextGenEnv, config: TrainConfig, reference: Reference | None = None
) -> EvalResult:
    """``config``'s evaluation of ``policy``'s LM on ``env``: its count, samples and reward.

    The policy's token restriction applies; ``reference`` is the initial model (None: the
    policy's LM is the initial model itself).
    """
    if isinstance(env, ConversationEnv):
        return evaluate_games(policy, env, config.eval_examples)
    options = eval_options(config)
    restrict = policy.generation_restriction()
    own = env.reward_fn
    return evaluate_lm(
        policy.lm, env, reference=reference, own_reward=own, restrict=restrict, **options
    )


def periodic_eval(
    config: TrainConfig, env: TextGenEnv, reference: Reference, resumed_at: int | None = None
) -> list[PeriodicEval]:
    """``config``'s :class:`PeriodicEval`, or none without ``eval_every``.

    It writes ``best_model.zip`` and ``eval_history.json`` into ``config.out``; a run
    resumed at ``resumed_at`` timesteps continues the history saved there.
    """
    if config.eval_every is None:
        return []
    out = Path(config.out)
    options = eval_options(config)
    periodic = PeriodicEval(
        env,
        config.eval_every,
        options.pop("n_examples"),
        metric=config.eval_metric,
        patience=config.patience,
        kl_budget=config.kl_budget,
        best_path=out / BEST_MODEL,
        history_path=out / EVAL_HISTORY,
        reference=reference,
        evaluate_kwargs=options,
    )
    if resumed_at is not None:
        periodic.restore(resumed_at)
    return [periodic]
