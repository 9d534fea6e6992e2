"""The main job: train a causal LM with the stock SB3 PPO on a textgym env, then report."""

from __future__ import annotations

import math
import numbers
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch as th
from gymnasium.envs.registration import load_env_creator
from stable_baselines3 import PPO
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.vec_env import VecEnv

from textgym.atomic import (
    check_output_folder,
    check_replaceable,
    write_atomic,
    write_json_atomic,
)
from textgym.checkpoints import CHECKPOINT_ROLLOUTS, Checkpoint, Checkpointer, load_checkpoint
from textgym.env import TextGenEnv
from textgym.errors import ConfigError, unknown_name
from textgym.evaluation import EvalResult
from textgym.evaluation.held_out import evaluate_held_out, make_eval_env, periodic_eval
from textgym.evaluation.settings import check_eval_settings
from textgym.groups import make_group_vec_env
from textgym.kl import add_kl_penalty, check_kl_settings, policy_reference
from textgym.models import DEFAULT_MODEL, load_tokenizer
from textgym.policies.sampling import SamplingConfig
from textgym.run_folder import (
    clear_previous,
    finish_run,
    recover_outputs,
    settings_record,
    start_run,
)

# int setting -> (its smallest valid value, what it is); checked by TrainConfig.validate
INT_SETTINGS = {
    "timesteps": (1, "the env steps (tokens) to train for"),
    "n_envs": (1, "the envs stepped in parallel"),
    "n_steps": (1, "the steps each env takes per rollout"),
    "batch_size": (1, "the transitions per PPO minibatch"),
    "n_epochs": (1, "the passes of PPO over each rollout"),
    "max_prompt_tokens": (1, "the longest prompt in tokens (unset: the env's default)"),
    "max_new_tokens": (1, "the longest generation in tokens (unset: the env's default)"),
    "eval_examples": (1, "the held-out examples evaluated before and after training"),
    "top_k": (0, "sample among the k most likely tokens (0: all)"),
    "seed": (0, "PPO's seed; env i gets seed + i"),
    "checkpoint_every": (0, "the timesteps between checkpoints (0: none; unset: 4 rollouts)"),
}
# None: the env's default (tokens), every CHECKPOINT_ROLLOUTS rollouts (checkpoints)
OPTIONAL_SETTINGS = ("max_prompt_tokens", "max_new_tokens", "checkpoint_every")


@dataclass
class TrainConfig:
    """Everything one training run depends on (see ``textgym train --help``).

    The settings are checked on construction and again by :func:`train` (see
    :meth:`validate`). ``kl_coef`` is the β of the KL penalty: None (the default) or 0 is
    no penalty; with ``target_kl`` set and ``kl_coef`` None, the adaptive β starts at
    :data:`~textgym.kl.INITIAL_BETA` (0.1). ``checkpoint_every`` is the fewest timesteps
    between two checkpoints (None, the default: every
    :data:`~textgym.checkpoints.CHECKPOINT_ROLLOUTS` rollouts; 0: no checkpoints); it does
    not change what the run computes. Held-out evaluation reads ``eval_dataset`` (else the
    ``eval_split`` of ``dataset``), ``eval_examples`` examples, greedy plus ``eval_samples``
    samples per prompt; ``eval_every`` adds periodic evaluations that keep the best
    ``eval_metric`` and stop on ``patience`` or ``kl_budget`` (see
    :mod:`textgym.evaluation.held_out` and :class:`~textgym.evaluation.PeriodicEval`).

    Raises:
        TextGymError: a setting is unusable (see :meth:`validate`).
    """

    env_id: str = "TextSummarize-v0"
    reward: Any = None
    model: str = DEFAULT_MODEL
    timesteps: int = 4096
    n_envs: int = 8
    n_steps: int = 64
    batch_size: int = 128
    n_epochs: int = 2
    learning_rate: float = 2e-5
    gamma: float = 1.0
    max_prompt_tokens: int | None = None
    max_new_tokens: int | None = None
    dataset: str | None = None
    eval_dataset: str | None = None
    eval_split: str = "test"
    eval_examples: int = 100
    eval_samples: int = 0
    eval_every: int | None = None
    eval_metric: str = "own_reward"
    patience: int | None = None
    kl_budget: float | None = None
    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 1.0
    kl_coef: float | None = None
    target_kl: float | None = None
    kl_horizon: float = 10_000
    group_size: int = 1
    advantage: str = "gae"
    seed: int = 0
    device: str = "auto"
    out: str = "runs/textgym"
    checkpoint_every: int | None = None
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    ppo_kwargs: dict[str, Any] = field(default_factory=dict)
    policy_kwargs: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise an error naming the first unusable setting, its value and the fix.

        Only the settings themselves are checked here; the env, dataset and reward are
        checked when :func:`train` builds the env, and ``out`` before training starts.

        Raises:
            UnknownNameError: ``env_id`` is not registered (the textgym ids are suggested).
            ConfigError: any other unusable setting.
        """
        check_env_id(self.env_id)
        for name, (minimum, meaning) in INT_SETTINGS.items():
            value = getattr(self, name)
            if value is not None or name not in OPTIONAL_SETTINGS:
                check_int(name, value, minimum, meaning)
        check_minibatch(self)
        check_numbers(self)
        SamplingConfig(self.temperature, self.top_k, self.top_p)
        check_kl_settings(self.kl_coef, self.target_kl, self.kl_horizon)
        check_device(self.device)
        check_groups(self)
        check_eval_settings(
            self.eval_every, self.patience, self.kl_budget, self.eval_metric, self.eval_samples
        )

    @property
    def grouped(self) -> bool:
        """Whether envs run in groups sharing prompts (a group size or a group baseline)."""
        return self.group_size > 1 or self.advantage != "gae"

    def make_env_kwargs(self, split: str) -> dict[str, Any]:
        """Keyword arguments for ``gym.make(self.env_id, ...)`` on ``split``."""
        kwargs: dict[str, Any] = {"tokenizer": self.model, "split": split, **self.env_kwargs}
        optional = {
            "reward": self.reward,
            "dataset": self.dataset,
            "max_prompt_tokens": self.max_prompt_tokens,
            "max_new_tokens": self.max_new_tokens,
        }
        kwargs.update({k: v for k, v in optional.items() if v is not None})
        return kwargs


def flag(name: str) -> str:
    """The ``textgym train`` option of the :class:`TrainConfig` field ``name``."""
    return "--env" if name == "env_id" else "--" + name.replace("_", "-")


def check_int(name: str, value: Any, minimum: int, meaning: str) -> None:
    """Raise a :class:`ConfigError` unless ``value`` is an int (not a bool) >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ConfigError(
            f"{name}={value!r} ({flag(name)}) must be an integer >= {minimum}: {meaning}."
        )


def check_env_id(env_id: Any) -> None:
    """Raise unless ``env_id`` is registered with Gymnasium as a :class:`TextGenEnv`.

    Raises:
        UnknownNameError: ``env_id`` is not registered; the textgym env ids are suggested.
        ConfigError: ``env_id`` is registered but is not a textgym text env.
    """
    from textgym import ENV_IDS

    if not isinstance(env_id, str) or env_id not in gym.registry:
        raise unknown_name(
            "env id",
            str(env_id),
            ENV_IDS,
            "Pass one of these (--env, env_id=), or register your TextGenEnv with gymnasium.",
        )
    entry_point = gym.registry[env_id].entry_point
    creator = load_env_creator(entry_point) if isinstance(entry_point, str) else entry_point
    if not (isinstance(creator, type) and issubclass(creator, TextGenEnv)):
        raise ConfigError(
            f"env id {env_id!r} is not a textgym text env (its entry point is "
            f"{entry_point!r}); PPO here trains an LM on a TextGenEnv. Use one of "
            f"{', '.join(ENV_IDS)}."
        )


def check_groups(config: TrainConfig) -> None:
    """Raise unless the group size and advantage mode fit together and with the rollout."""
    from textgym.policies.advantages import check_advantage_mode, check_group_size

    check_advantage_mode(config.advantage, config.group_size)
    check_group_size(config.group_size, config.n_envs)
    if not config.grouped:
        return
    new_tokens = config.max_new_tokens or gym.spec(config.env_id).kwargs.get("max_new_tokens")
    if new_tokens and config.n_steps % new_tokens:
        raise ConfigError(
            f"n_steps={config.n_steps} (--n-steps) must be a multiple of max_new_tokens="
            f"{new_tokens} with groups: every episode of a group then fits in one rollout "
            f"(padded envs take exactly max_new_tokens steps). Use --n-steps {new_tokens}."
        )


def check_minibatch(config: TrainConfig) -> None:
    """Raise unless PPO can normalise advantages: 2+ transitions per minibatch and rollout."""
    if not config.ppo_kwargs.get("normalize_advantage", True):
        return
    if config.batch_size < 2:
        raise ConfigError(
            f"batch_size={config.batch_size} (--batch-size) must be at least 2: PPO normalises "
            "the advantages over each minibatch. Use e.g. 128."
        )
    if config.n_steps * config.n_envs < 2:
        raise ConfigError(
            f"n_steps * n_envs = {config.n_steps * config.n_envs} transitions per rollout; PPO "
            "needs at least 2 to normalise advantages. Raise --n-steps or --n-envs."
        )


def check_numbers(config: TrainConfig) -> None:
    """Raise unless ``learning_rate``, ``gamma`` and ``temperature`` are usable numbers.

    ``learning_rate`` (unless an SB3 schedule) and ``temperature`` must be finite and > 0,
    ``gamma`` in [0, 1]. (:class:`SamplingConfig` checks ``top_k`` and ``top_p``.)
    """
    rate = config.learning_rate
    if not callable(rate) and not (_is_real(rate) and 0 < rate < math.inf):
        raise ConfigError(
            f"learning_rate={rate!r} (--learning-rate) must be a finite number > 0, e.g. 2e-5."
        )
    if not (_is_real(config.gamma) and 0 <= config.gamma <= 1):
        raise ConfigError(
            f"gamma={config.gamma!r} (--gamma) must be a number in [0, 1] (1.0: no discount)."
        )
    if not (_is_real(config.temperature) and 0 < config.temperature < math.inf):
        raise ConfigError(
            f"temperature={config.temperature!r} (--temperature) must be a finite number > 0 "
            "(1.0: the LM's own distribution)."
        )


def check_device(device: Any) -> None:
    """Raise unless ``device`` is ``"auto"`` or a torch device this machine has.

    Raises:
        ConfigError: an unknown device name, or CUDA asked for where none is available (SB3
            would fall back to the CPU without a word).
    """
    if device == "auto":
        return
    try:
        kind = th.device(device).type
    except (RuntimeError, TypeError) as exc:
        raise ConfigError(
            f"device={device!r} (--device) is not a torch device; use 'auto', 'cpu', "
            "'cuda' or 'cuda:N'."
        ) from exc
    if kind == "cuda" and not th.cuda.is_available():
        raise ConfigError(
            f"device={device!r} (--device) asks for CUDA, but torch sees no CUDA GPU here; "
            "use 'auto' (a GPU when there is one) or 'cpu'."
        )


def _is_real(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


@dataclass
class TrainResult:
    """What a run produced: evaluations before/after, the reward curve, and file paths."""

    before: EvalResult
    after: EvalResult
    episode_rewards: list[float]
    model: PPO
    files: dict[str, str]
    evaluations: list[dict[str, float]] = field(default_factory=list)  # periodic, if any


class EpisodeRewards(BaseCallback):
    """Record every finished episode's reward (from SB3's Monitor info)."""

    def __init__(self) -> None:
        super().__init__()
        self.rewards: list[float] = []

    def _on_step(self) -> bool:
        self.rewards += [info["episode"]["r"] for info in self.locals["infos"] if "episode" in info]
        return True


def build_ppo(config: TrainConfig) -> PPO:
    """The stock PPO with :class:`LMPolicy` and whole-episode minibatches."""
    from textgym.policies import EpisodeRolloutBuffer, LMPolicy

    env = build_env(config)
    policy_kwargs = {
        "model": config.model,
        "temperature": config.temperature,
        "top_k": config.top_k,
        "top_p": config.top_p,
        "value_head": config.advantage == "gae",
        **config.policy_kwargs,
    }
    ppo_kwargs = {
        "n_steps": config.n_steps,
        "batch_size": config.batch_size,
        "n_epochs": config.n_epochs,
        "learning_rate": config.learning_rate,
        "gamma": config.gamma,
        "seed": config.seed,
        "device": config.device,
        "tensorboard_log": str(Path(config.out) / "tensorboard"),
        "rollout_buffer_class": EpisodeRolloutBuffer,
        "rollout_buffer_kwargs": {"advantage": config.advantage, "group_size": config.group_size},
        # a group baseline is not to be re-centred per minibatch (see the README)
        "normalize_advantage": config.advantage == "gae",
        **config.ppo_kwargs,
    }
    model = PPO(LMPolicy, env, policy_kwargs=policy_kwargs, **ppo_kwargs)
    if config.kl_coef or config.target_kl is not None:
        add_kl_penalty(model, config.kl_coef, config.target_kl, config.kl_horizon)
    return model


def build_env(config: TrainConfig) -> VecEnv:
    """The training envs: independent, or in groups sharing prompts (``group_size``)."""
    if config.grouped:
        return make_group_vec_env(
            config.env_id,
            config.n_envs,
            config.group_size,
            config.seed,
            config.make_env_kwargs("train"),
        )
    return make_vec_env(
        partial(gym.make, config.env_id),  # by id, SB3 would ask for render_mode="rgb_array"
        n_envs=config.n_envs,
        seed=config.seed,
        env_kwargs=config.make_env_kwargs("train"),
    )


def train(config: TrainConfig, progress_bar: bool = True, resume: bool = False) -> TrainResult:
    """Evaluate, train with PPO, evaluate again, and save model, metrics and reward curve.

    Only the names :func:`save_run` writes (and ``tensorboard/``, ``checkpoints/``) are
    touched in ``config.out``; anything else there is left alone. ``train.json`` is written
    last; an unfinished set of outputs is removed first (see :mod:`textgym.run_folder`).

    A checkpoint is saved every ``config.checkpoint_every`` timesteps and after the last
    update (see :mod:`textgym.checkpoints`). With ``resume``, the run in ``config.out``
    continues from its checkpoint: on the same machine it ends bit for bit as it would have
    without the interruption (weights, episode rewards, metrics).

    Everything that can be checked is checked before the model is loaded: the settings
    (:meth:`TrainConfig.validate`), ``config.out``, and the env with its dataset and reward
    (built on the eval split first).

    Raises:
        ConfigError: an unusable setting; ``config.out`` is a file, cannot be created or
            written, holds an ``hf_model`` folder textgym did not write, or the checkpoint
            of an unfinished run (without ``resume``); with ``resume``, it holds no
            checkpoint, one of a run with other settings, or a finished run.
        UnknownNameError: an unregistered env id or reward.
        DatasetError: the dataset is missing, empty or lacks a field.
    """
    config.validate()  # again: a field may have changed since construction
    out = Path(config.out)
    recover_outputs(out)
    settings = settings_record(config)
    checkpoint = load_checkpoint(out, settings) if resume else None
    check_output_folder(out, "--out")
    check_replaceable(out / "hf_model")
    run_id = start_run(out, resume)
    eval_env = make_eval_env(config)
    model = build_ppo(config)
    curve = EpisodeRewards()
    before = start_model(model, curve, checkpoint, eval_env, config)
    clear_previous(out, resume)
    manifest = {"run_id": run_id, "config": settings}
    saver = checkpointer(config, manifest, curve, before, model.num_timesteps)
    reference = policy_reference(model)  # the initial model, for KL and perplexity
    resumed_at = None if checkpoint is None else model.num_timesteps
    periodic = periodic_eval(config, eval_env, reference, resumed_at)
    model.learn(
        config.timesteps - model.num_timesteps,
        callback=[curve, *saver, *periodic],
        reset_num_timesteps=checkpoint is None,
        progress_bar=progress_bar,
    )
    after = evaluate_held_out(model.policy.lm, eval_env, config, reference)
    files = save_run(config, model, before, after, curve.rewards, run_id)
    history = [entry for callback in periodic for entry in callback.history]
    return TrainResult(before, after, curve.rewards, model, files, history)


def start_model(
    model: PPO,
    curve: EpisodeRewards,
    checkpoint: Checkpoint | None,
    eval_env: TextGenEnv,
    config: TrainConfig,
) -> EvalResult:
    """Evaluate a new ``model``, or restore it and ``curve`` from ``checkpoint``.

    Returns the evaluation of the initial model (saved with the checkpoint).
    """
    if checkpoint is None:
        return evaluate_held_out(model.policy.lm, eval_env, config)
    checkpoint.restore(model)
    curve.rewards = list(checkpoint.extras["episode_rewards"])
    return EvalResult(**checkpoint.extras["before"])


def checkpointer(
    config: TrainConfig,
    manifest: dict[str, Any],
    curve: EpisodeRewards,
    before: EvalResult,
    saved_at: int,
) -> list[BaseCallback]:
    """The :class:`Checkpointer` of ``config`` (none with ``checkpoint_every=0``).

    Its checkpoints hold ``manifest``, the reward ``curve`` so far and the evaluation
    ``before`` training; ``saved_at`` is the timesteps of the checkpoint resumed from.
    """
    if config.checkpoint_every == 0:
        return []

    def extras() -> dict[str, Any]:
        return {"episode_rewards": list(curve.rewards), "before": asdict(before)}

    rollout = config.n_steps * config.n_envs
    every = config.checkpoint_every or CHECKPOINT_ROLLOUTS * rollout  # None: the default
    return [Checkpointer(config.out, manifest, every, extras, saved_at)]


def save_run(
    config: TrainConfig,
    model: PPO,
    before: EvalResult,
    after: EvalResult,
    rewards: list[float],
    run_id: str,
) -> dict[str, str]:
    """Write the SB3 zip, the Hugging Face folder, metrics JSON, reward-curve PNG, train.json.

    ``train.json`` comes last: the run ``run_id``'s settings and the hashes of the other
    files (see :mod:`textgym.run_folder`). ``metrics.json`` is strict JSON: a NaN or
    infinite number is written as null.
    """
    out = Path(config.out)
    tokenizer = load_tokenizer(config.model)

    def save_hf(tmp: Path) -> None:
        model.policy.lm.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)

    files = {
        "sb3": str(write_atomic(out / "ppo.zip", lambda tmp: model.save(tmp))),
        "hf": str(write_atomic(out / "hf_model", save_hf)),
        "curve": str(write_atomic(out / "reward_curve.png", lambda tmp: plot_curve(rewards, tmp))),
    }
    metrics = {
        "config": asdict(config),
        "before": asdict(before),
        "after": asdict(after),
        "episode_rewards": rewards,
    }
    files["metrics"] = str(write_json_atomic(out / "metrics.json", metrics))
    files["done"] = str(finish_run(out, run_id, settings_record(config)))
    return files


def plot_curve(rewards: list[float], path: Path) -> None:
    """Save a PNG of episode rewards and their moving average."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    x = np.arange(1, len(rewards) + 1)
    ax.plot(x, rewards, ".", alpha=0.3, label="episode")
    window = max(1, len(rewards) // 20)
    if rewards:
        smooth = np.convolve(rewards, np.ones(window) / window, mode="valid")
        ax.plot(x[window - 1 :], smooth, label=f"mean of {window}")
    ax.set(xlabel="episode", ylabel="reward", title="Training reward")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, format="png", dpi=110)
    plt.close(fig)
