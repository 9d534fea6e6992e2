"""The main job: train a causal LM with the stock SB3 PPO on a textgym env, then report."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
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
from textgym.env import TextGenEnv
from textgym.env.groups import make_group_vec_env
from textgym.env.text_gen_vec_factories import (
    make_group_text_gen_vec_env,
    make_text_gen_vec_env,
)
from textgym.evaluation import EvalResult
from textgym.models import load_tokenizer
from textgym.policies.kl_penalty import add_kl_penalty, policy_reference
from textgym.training.checkpoints import (
    CHECKPOINT_ROLLOUTS,
    Checkpoint,
    Checkpointer,
    load_checkpoint,
)
from textgym.training.config import TrainConfig
from textgym.training.held_out import evaluate_held_out, make_eval_env, periodic_eval
from textgym.training.run_folder import (
    clear_previous,
    finish_run,
    recover_outputs,
    settings_record,
    start_run,
)
from textgym.training.signal_health import SignalHealth


@dataclass
class TrainResult:
    """What a run produced: evaluations before/after, the reward curve, and file paths."""

    before: EvalResult
    after: EvalResult
    episode_rewards: list[float]
    model: PPO
    files: dict[str, str]
    evaluations: list[dict[str, float]] = field(default_factory=list)  # periodic, if any
    signal_health: dict[str, Any] = field(default_factory=dict)  # SignalHealth.summary()


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
        add_kl_penalty(
            model,
            config.kl_coef,
            config.target_kl,
            config.kl_horizon,
            reference_device=config.kl_reference_device,
        )
    return model


def build_env(config: TrainConfig) -> VecEnv:
    """The training envs: independent, or in groups sharing prompts (``group_size``).

    A single-turn id (a :class:`~textgym.TextGenEnv`) runs as one
    :class:`~textgym.env.TextGenVecEnv`, stepped on arrays; a game in SB3's ``DummyVecEnv``.
    """
    kwargs = config.make_env_kwargs("train")
    if config.is_game:
        if config.grouped:
            return make_group_vec_env(
                config.env_id, config.n_envs, config.group_size, config.seed, kwargs
            )
        # by id, SB3 would ask for render_mode="rgb_array"
        make = partial(gym.make, config.env_id)
        return make_vec_env(make, n_envs=config.n_envs, seed=config.seed, env_kwargs=kwargs)
    if config.grouped:
        return make_group_text_gen_vec_env(
            config.env_id, config.n_envs, config.group_size, config.seed, kwargs
        )
    return make_text_gen_vec_env(config.env_id, config.n_envs, config.seed, kwargs)


def train(
    config: TrainConfig,
    progress_bar: bool = True,
    resume: bool = False,
    initial: EvalResult | None = None,
) -> TrainResult:
    """Evaluate, train with PPO, evaluate again, and save model, metrics and reward curve.

    Only the names :func:`save_run` writes (and ``tensorboard/``, ``checkpoints/``) are
    touched in ``config.out``; anything else there is left alone. ``train.json`` is written
    last; an unfinished set of outputs is removed first (see :mod:`textgym.training.run_folder`).

    A checkpoint is saved every ``config.checkpoint_every`` timesteps and after the last
    update (see :mod:`textgym.training.checkpoints`). With ``resume``, the run in ``config.out``
    continues from its checkpoint: on the same machine it ends bit for bit as it would have
    without the interruption (weights, episode rewards, metrics). ``initial`` is the initial
    model's held-out evaluation when the caller already has it for the same evaluation
    settings (``textgym compare`` shares one across runs); None: it is computed.

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
    health = SignalHealth(getattr(eval_env, "max_new_tokens", None), config.stop_on_dead_signal)
    before = start_model(model, curve, checkpoint, eval_env, config, initial, health)
    clear_previous(out, resume)
    manifest = {"run_id": run_id, "config": settings}
    saver = checkpointer(config, manifest, curve, before, model.num_timesteps, health)
    reference = policy_reference(model)  # the initial model, for KL and perplexity
    resumed_at = None if checkpoint is None else model.num_timesteps
    periodic = periodic_eval(config, eval_env, reference, resumed_at)
    model.learn(
        config.timesteps - model.num_timesteps,
        callback=[curve, health, *saver, *periodic],
        reset_num_timesteps=checkpoint is None,
        progress_bar=progress_bar,
    )
    after = evaluate_held_out(model.policy, eval_env, config, reference)
    files = save_run(config, model, before, after, curve.rewards, run_id, health.history)
    history = [entry for callback in periodic for entry in callback.history]
    return TrainResult(before, after, curve.rewards, model, files, history, health.summary())


def start_model(
    model: PPO,
    curve: EpisodeRewards,
    checkpoint: Checkpoint | None,
    eval_env: TextGenEnv,
    config: TrainConfig,
    initial: EvalResult | None = None,
    health: SignalHealth | None = None,
) -> EvalResult:
    """Evaluate a new ``model``, or restore it, ``curve`` and ``health`` from ``checkpoint``.

    Returns the evaluation of the initial model (saved with the checkpoint); ``initial``, when
    given, is that evaluation already computed.
    """
    if checkpoint is None:
        return initial or evaluate_held_out(model.policy, eval_env, config)
    checkpoint.restore(model)
    curve.rewards = list(checkpoint.extras["episode_rewards"])
    if health is not None:
        health.history = list(checkpoint.extras.get("signal_health", []))
    return EvalResult(**checkpoint.extras["before"])


def checkpointer(
    config: TrainConfig,
    manifest: dict[str, Any],
    curve: EpisodeRewards,
    before: EvalResult,
    saved_at: int,
    health: SignalHealth | None = None,
) -> list[BaseCallback]:
    """The :class:`Checkpointer` of ``config`` (none with ``checkpoint_every=0``).

    Its checkpoints hold ``manifest``, the reward ``curve`` so far and the evaluation
    ``before`` training; ``saved_at`` is the timesteps of the checkpoint resumed from.
    """
    if config.checkpoint_every == 0:
        return []

    def extras() -> dict[str, Any]:
        history = list(health.history) if health is not None else []
        return {
            "episode_rewards": list(curve.rewards),
            "before": asdict(before),
            "signal_health": history,
        }

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
    signal_health: list[dict[str, float]] | None = None,
) -> dict[str, str]:
    """Write the SB3 zip, the Hugging Face folder, metrics JSON, reward-curve PNG, train.json.

    ``train.json`` comes last: the run ``run_id``'s settings and the hashes of the other
    files (see :mod:`textgym.training.run_folder`). ``metrics.json`` is strict JSON: a NaN or
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
        "signal_health": signal_health or [],
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
