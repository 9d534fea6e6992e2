"""One evaluation of the initial policy, shared by every run of a comparison that can share it.

The initial policy's held-out evaluation depends only on the model, the env and its data,
the reward scored as ``own_reward`` and the evaluation settings, not on the PPO settings a
sweep varies nor (under greedy decoding) on the seed. Runs whose keys match reuse the first
run's evaluation from ``<out>/initial_evals/<key>.json`` (written atomically) instead of
generating and scoring the same outputs again. The file keeps every float exactly (NaN
included), so a run that reuses it records what it would have computed itself.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from pathlib import Path

from textgym.atomic import write_text_atomic
from textgym.evaluation import EvalResult
from textgym.experiments.grid import to_jsonable
from textgym.training import TrainConfig

FOLDER = "initial_evals"
# Bumped when the evaluation itself changes, so evaluations stored by older code are not reused
# (2: generation under the policy's token bans, in prompt-length order; 3: copy_rate, repetition).
EVALUATION_VERSION = 3
# TrainConfig fields that change training only, never the initial policy's evaluation.
TRAINING_ONLY = (
    "timesteps",
    "n_envs",
    "n_steps",
    "batch_size",
    "n_epochs",
    "learning_rate",
    "gamma",
    "kl_coef",
    "target_kl",
    "kl_horizon",
    "kl_reference_device",
    "group_size",
    "advantage",
    "out",
    "checkpoint_every",
    "stop_on_dead_signal",
    "eval_every",
    "eval_metric",
    "patience",
    "kl_budget",
    "ppo_kwargs",
)


def initial_eval_key(config: TrainConfig) -> str:
    """A hash of every setting the initial evaluation of ``config`` depends on."""
    settings = {k: v for k, v in asdict(config).items() if k not in TRAINING_ONLY}
    settings["evaluation_version"] = EVALUATION_VERSION
    if config.eval_samples == 0:  # greedy only: the seed changes nothing evaluated
        settings.pop("seed")
    text = json.dumps(to_jsonable(settings), sort_keys=True, default=repr)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def load_initial_eval(out: Path, config: TrainConfig) -> EvalResult | None:
    """The stored initial evaluation matching ``config``, or None."""
    path = out / FOLDER / f"{initial_eval_key(config)}.json"
    if not path.is_file():
        return None
    return EvalResult(**json.loads(path.read_text(encoding="utf-8")))


def store_initial_eval(out: Path, config: TrainConfig, result: EvalResult) -> None:
    """Keep ``result`` for later runs whose initial evaluation matches ``config``'s."""
    path = out / FOLDER / f"{initial_eval_key(config)}.json"
    if not path.is_file():
        write_text_atomic(path, json.dumps(asdict(result)))  # NaN kept: an internal file
