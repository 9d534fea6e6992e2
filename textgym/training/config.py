"""``TrainConfig``: everything one training run depends on, checked on construction."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from textgym.evaluation.settings import check_eval_settings
from textgym.models import DEFAULT_MODEL
from textgym.policies.kl_controller import check_kl_settings
from textgym.policies.sampling import SamplingConfig
from textgym.training.checks import (
    check_device,
    check_env_id,
    check_game_settings,
    check_groups,
    check_int,
    check_minibatch,
    check_numbers,
    check_reference_device,
    check_seed,
    game_episode_steps,
    is_game_id,
)
from textgym.training.kwargs_checks import check_kwargs

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
    "stop_on_dead_signal": (1, "the dead rollouts in a row that stop training (unset: warn only)"),
}
# None: the env's default (tokens), every CHECKPOINT_ROLLOUTS rollouts (checkpoints)
OPTIONAL_SETTINGS = (
    "max_prompt_tokens",
    "max_new_tokens",
    "checkpoint_every",
    "stop_on_dead_signal",
)


@dataclass
class TrainConfig:
    """Everything one training run depends on (see ``textgym train --help``).

    The settings are checked on construction and again by :func:`train` (see
    :meth:`validate`). ``kl_coef`` is the β of the KL penalty: None (the default) or 0 is
    no penalty; with ``target_kl`` set and ``kl_coef`` None, the adaptive β starts at
    :data:`~textgym.policies.kl_controller.INITIAL_BETA` (0.1). ``checkpoint_every`` is the
    fewest timesteps between two checkpoints (None, the default: every
    :data:`~textgym.training.checkpoints.CHECKPOINT_ROLLOUTS` rollouts; 0: no checkpoints); it does
    not change what the run computes. Held-out evaluation reads ``eval_dataset`` (else the
    ``eval_split`` of ``dataset``), ``eval_examples`` examples, greedy plus ``eval_samples``
    samples per prompt; ``eval_every`` adds periodic evaluations that keep the best
    ``eval_metric`` and stop on ``patience`` or ``kl_budget`` (see
    :mod:`textgym.evaluation.held_out` and :class:`~textgym.evaluation.PeriodicEval`).
    ``kl_reference_device`` puts the KL penalty's reference model on its own device (None:
    the policy's). ``stop_on_dead_signal`` stops training after that many rollouts in a row
    without a gradient signal (see :mod:`textgym.training.signal_health`; None: warn once).

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
    kl_reference_device: str | None = None
    group_size: int = 1
    advantage: str = "gae"
    seed: int = 0
    device: str = "auto"
    out: str = "runs/textgym"
    checkpoint_every: int | None = None
    stop_on_dead_signal: int | None = None
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
        check_kwargs(self.env_id, self.env_kwargs, self.ppo_kwargs, self.policy_kwargs)
        for name, (minimum, meaning) in INT_SETTINGS.items():
            value = getattr(self, name)
            if value is not None or name not in OPTIONAL_SETTINGS:
                check_int(name, value, minimum, meaning)
        check_minibatch(self.batch_size, self.n_steps, self.n_envs, self.ppo_kwargs)
        check_seed(self.seed, self.n_envs)
        check_numbers(self.learning_rate, self.gamma, self.temperature)
        SamplingConfig(self.temperature, self.top_k, self.top_p)
        check_kl_settings(self.kl_coef, self.target_kl, self.kl_horizon)
        check_reference_device(self.kl_reference_device, self.kl_coef, self.target_kl)
        check_device(self.device)
        if self.is_game:
            check_game_settings(vars(self))
        episode = game_episode_steps(self.env_id, self.env_kwargs) if self.is_game else None
        check_groups(
            self.advantage,
            self.group_size,
            self.n_envs,
            self.n_steps,
            self.env_id,
            episode or self.max_new_tokens,
        )
        check_eval_settings(
            self.eval_every, self.patience, self.kl_budget, self.eval_metric, self.eval_samples
        )

    @property
    def grouped(self) -> bool:
        """Whether envs run in groups sharing prompts (a group size or a group baseline)."""
        return self.group_size > 1 or self.advantage != "gae"

    @property
    def is_game(self) -> bool:
        """Whether ``env_id`` is a multi-turn game (a :class:`~textgym.ConversationEnv`)."""
        return is_game_id(self.env_id)

    def make_env_kwargs(self, split: str) -> dict[str, Any]:
        """Keyword arguments for ``gym.make(self.env_id, ...)`` on ``split``."""
        kwargs: dict[str, Any] = {"tokenizer": self.model, "split": split, **self.env_kwargs}
        if self.is_game:  # a game has its own examples, reward and turn limits
            return kwargs
        optional = {
            "reward": self.reward,
            "dataset": self.dataset,
            "max_prompt_tokens": self.max_prompt_tokens,
            "max_new_tokens": self.max_new_tokens,
        }
        kwargs.update({k: v for k, v in optional.items() if v is not None})
        return kwargs
