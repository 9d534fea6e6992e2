"""The main job: train a causal LM with the stock SB3 PPO on a textgym env, then report."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from stable_baselines3 import PPO
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.env_util import make_vec_env

from textgym.atomic import check_replaceable, write_atomic, write_text_atomic
from textgym.evaluation import EvalResult, evaluate_lm
from textgym.kl import add_kl_penalty
from textgym.models import DEFAULT_MODEL, load_tokenizer


@dataclass
class TrainConfig:
    """Everything one training run depends on (see ``textgym train --help``)."""

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
    eval_split: str = "test"
    eval_examples: int = 20
    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 1.0
    kl_coef: float = 0.0
    target_kl: float | None = None
    kl_horizon: float = 10_000
    seed: int = 0
    device: str = "auto"
    out: str = "runs/textgym"
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    ppo_kwargs: dict[str, Any] = field(default_factory=dict)
    policy_kwargs: dict[str, Any] = field(default_factory=dict)

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


@dataclass
class TrainResult:
    """What a run produced: evaluations before/after, the reward curve, and file paths."""

    before: EvalResult
    after: EvalResult
    episode_rewards: list[float]
    model: PPO
    files: dict[str, str]


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

    env = make_vec_env(
        partial(gym.make, config.env_id),  # by id, SB3 would ask for render_mode="rgb_array"
        n_envs=config.n_envs,
        seed=config.seed,
        env_kwargs=config.make_env_kwargs("train"),
    )
    policy_kwargs = {
        "model": config.model,
        "temperature": config.temperature,
        "top_k": config.top_k,
        "top_p": config.top_p,
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
        **config.ppo_kwargs,
    }
    model = PPO(LMPolicy, env, policy_kwargs=policy_kwargs, **ppo_kwargs)
    if config.kl_coef > 0 or config.target_kl is not None:
        add_kl_penalty(model, config.kl_coef, config.target_kl, config.kl_horizon)
    return model


def train(config: TrainConfig, progress_bar: bool = True) -> TrainResult:
    """Evaluate, train with PPO, evaluate again, and save model, metrics and reward curve.

    Only the names :func:`save_run` writes (and ``tensorboard/``) are touched in
    ``config.out``; anything else there is left alone.

    Raises:
        ConfigError: ``config.out`` holds an ``hf_model`` folder textgym did not write
            (checked before training).
    """
    check_replaceable(Path(config.out) / "hf_model")
    model = build_ppo(config)
    eval_env = gym.make(config.env_id, **config.make_env_kwargs(config.eval_split)).unwrapped
    before = evaluate_lm(model.policy.lm, eval_env, config.eval_examples)
    curve = EpisodeRewards()
    model.learn(config.timesteps, callback=curve, progress_bar=progress_bar)
    after = evaluate_lm(model.policy.lm, eval_env, config.eval_examples)
    files = save_run(config, model, before, after, curve.rewards)
    return TrainResult(before, after, curve.rewards, model, files)


def save_run(
    config: TrainConfig, model: PPO, before: EvalResult, after: EvalResult, rewards: list[float]
) -> dict[str, str]:
    """Write the SB3 zip, the Hugging Face folder, metrics JSON and the reward-curve PNG."""
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
    files["metrics"] = str(
        write_text_atomic(out / "metrics.json", json.dumps(metrics, indent=1, default=str))
    )
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
