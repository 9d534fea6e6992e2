"""Checks of training settings; each error names the setting, its flag, the value and the fix."""

from __future__ import annotations

import importlib
import math
import numbers
from typing import Any

import gymnasium as gym
import numpy as np
import torch as th
from gymnasium.envs.registration import load_env_creator

from textgym import devices
from textgym.env import ConversationEnv, TextGenEnv
from textgym.errors import ConfigError, unknown_name


def flag(name: str) -> str:
    """The ``textgym train`` option of the ``TrainConfig`` field ``name``."""
    return "--env" if name == "env_id" else "--" + name.replace("_", "-")


def check_int(name: str, value: Any, minimum: int, meaning: str) -> None:
    """Raise a :class:`ConfigError` unless ``value`` is an int (not a bool) >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ConfigError(
            f"{name}={value!r} ({flag(name)}) must be an integer >= {minimum}: {meaning}."
        )


def check_seed(seed: int, n_envs: int) -> None:
    """Env i is seeded with ``seed + i``; numpy takes seeds below 2**32."""
    if seed + n_envs > 2**32:
        raise ConfigError(
            f"seed={seed} (--seed) is too large: env i gets seed + i, and numpy takes seeds "
            f"below 2**32, so with {n_envs} envs the seed must be at most {2**32 - n_envs}."
        )


def registered_id(env_id: str) -> str:
    """``env_id`` without a ``module:`` prefix, after importing that module (as ``gym.make`` does).

    ``"my_tasks:MyQA-v0"`` imports ``my_tasks`` (which registers its tasks) and gives
    ``"MyQA-v0"``; the prefix lets a new process (``textgym train``, compare workers) find
    env ids that Python code registers.

    Raises:
        ConfigError: the module cannot be imported.
    """
    module, sep, name = env_id.rpartition(":")
    if not sep:
        return env_id
    try:
        importlib.import_module(module)
    except ImportError as exc:
        raise ConfigError(
            f"env id {env_id!r}: cannot import {module!r} ({exc}); the part before ':' must be "
            "a module on the Python path that registers the env id (e.g. with "
            "textgym.register_task)."
        ) from exc
    return name


def check_env_id(env_id: Any) -> None:
    """Raise unless ``env_id`` is registered with Gymnasium as a :class:`TextGenEnv`.

    ``module:EnvId`` imports ``module`` first (see :func:`registered_id`).

    Raises:
        UnknownNameError: ``env_id`` is not registered; the textgym env ids are suggested.
        ConfigError: ``env_id`` is registered but is not a textgym text env, or its module
            cannot be imported.
    """
    from textgym import ENV_IDS

    single_turn = [i for i in ENV_IDS if gym.spec(i).entry_point == "textgym.env:TextGenEnv"]
    name = registered_id(env_id) if isinstance(env_id, str) else env_id
    if not isinstance(name, str) or name not in gym.registry:
        raise unknown_name(
            "env id",
            str(env_id),
            single_turn,
            "Pass one of these (--env, env_id=), or register your own task and env id "
            "with textgym.register_task(task, env_id) in a module and pass 'module:env_id'.",
        )
    entry_point = gym.registry[name].entry_point
    creator = load_env_creator(entry_point) if isinstance(entry_point, str) else entry_point
    if not (isinstance(creator, type) and issubclass(creator, (TextGenEnv, ConversationEnv))):
        raise ConfigError(
            f"env id {env_id!r} is not a textgym text env (its entry point is "
            f"{entry_point!r}); PPO here trains an LM on a TextGenEnv. Use one of "
            f"{', '.join(single_turn)}."
        )


def is_game_id(env_id: str) -> bool:
    """Whether the (registered) ``env_id`` is a multi-turn game, a ``ConversationEnv``."""
    entry_point = gym.registry[registered_id(env_id)].entry_point
    creator = load_env_creator(entry_point) if isinstance(entry_point, str) else entry_point
    return isinstance(creator, type) and issubclass(creator, ConversationEnv)


def game_episode_steps(env_id: str, env_kwargs: dict[str, Any]) -> int:
    """The steps of a game's padded episode: its turns times its tokens per turn."""
    from textgym.games import get_game

    spec = gym.spec(registered_id(env_id))
    kwargs = {**spec.kwargs, **env_kwargs}
    game = get_game(kwargs["game"])
    turns = kwargs.get("max_turns") or game.max_turns
    return turns * (kwargs.get("max_turn_tokens") or game.max_turn_tokens)


def check_game_settings(settings: dict[str, Any]) -> None:
    """Refuse the settings a game does not take: it has its own examples and reward."""
    unused = {
        "reward": "--reward (a game scores its turns itself)",
        "dataset": "--dataset (a game has its own examples; --eval-split picks held-out ones)",
        "eval_dataset": "--eval-dataset (a game's held-out examples are its --eval-split)",
        "max_new_tokens": "--max-new-tokens (a game's turns have max_turn_tokens: "
        "--env-kwargs '{\"max_turn_tokens\": 8}')",
        "eval_every": "--eval-every (periodic evaluation of games is not supported yet)",
        "eval_samples": "--eval-samples (games are evaluated greedily)",
    }
    for name, flag in unused.items():
        if settings.get(name):
            raise ConfigError(f"{name}={settings[name]!r}: a multi-turn game takes no {flag}.")


def check_groups(
    advantage: str,
    group_size: int,
    n_envs: int,
    n_steps: int,
    env_id: str,
    max_new_tokens: int | None,
) -> None:
    """Raise unless the group size and advantage mode fit together and with the rollout."""
    from textgym.policies.advantages import check_advantage_mode, check_group_size

    check_advantage_mode(advantage, group_size)
    check_group_size(group_size, n_envs)
    if group_size <= 1 and advantage == "gae":
        return  # no groups
    spec = gym.spec(registered_id(env_id))
    new_tokens = max_new_tokens or spec.kwargs.get("max_new_tokens")
    if new_tokens and n_steps % new_tokens:
        raise ConfigError(
            f"n_steps={n_steps} (--n-steps) must be a multiple of the episode's {new_tokens} "
            "steps (max_new_tokens, or a game's max_turns x max_turn_tokens) with groups: "
            "every episode of a group then fits in one rollout (padded envs take exactly that "
            f"many steps). Use --n-steps {new_tokens}."
        )


def check_minibatch(batch_size: int, n_steps: int, n_envs: int, ppo_kwargs: dict[str, Any]) -> None:
    """Raise unless PPO can normalise advantages: 2+ transitions per minibatch and rollout."""
    if not ppo_kwargs.get("normalize_advantage", True):
        return
    if batch_size < 2:
        raise ConfigError(
            f"batch_size={batch_size} (--batch-size) must be at least 2: PPO normalises "
            "the advantages over each minibatch. Use e.g. 128."
        )
    if n_steps * n_envs < 2:
        raise ConfigError(
            f"n_steps * n_envs = {n_steps * n_envs} transitions per rollout; PPO "
            "needs at least 2 to normalise advantages. Raise --n-steps or --n-envs."
        )


def check_numbers(learning_rate: Any, gamma: Any, temperature: Any) -> None:
    """Raise unless ``learning_rate``, ``gamma`` and ``temperature`` are usable numbers.

    ``learning_rate`` (unless an SB3 schedule) and ``temperature`` must be finite and > 0,
    ``gamma`` in [0, 1]. (:class:`SamplingConfig` checks ``top_k`` and ``top_p``.)
    """
    rate = learning_rate
    if not callable(rate) and not (_is_real(rate) and 0 < rate < math.inf):
        raise ConfigError(
            f"learning_rate={rate!r} (--learning-rate) must be a finite number > 0, e.g. 2e-5."
        )
    if not (_is_real(gamma) and 0 <= gamma <= 1):
        raise ConfigError(
            f"gamma={gamma!r} (--gamma) must be a number in [0, 1] (1.0: no discount)."
        )
    if not (_is_real(temperature) and 0 < temperature < math.inf):
        raise ConfigError(
            f"temperature={temperature!r} (--temperature) must be a finite number > 0 "
            "(1.0: the LM's own distribution)."
        )


def check_device(device: Any, option: str = "device") -> None:
    """Raise unless ``device`` (the setting ``option``) is ``"auto"`` or a torch device here.

    Raises:
        ConfigError: an unknown device name, CUDA asked for where none is available (SB3
            would fall back to the CPU without a word), or a device index this process
            does not see (``cuda:3`` with one GPU).
    """
    if device == "auto":
        return
    flag = "--" + option.replace("_", "-")
    try:
        kind = th.device(device).type
    except (RuntimeError, TypeError) as exc:
        raise ConfigError(
            f"{option}={device!r} ({flag}) is not a torch device; use 'auto', 'cpu', "
            "'cuda' or 'cuda:N'."
        ) from exc
    if kind == "cuda" and not th.cuda.is_available():
        raise ConfigError(
            f"{option}={device!r} ({flag}) asks for CUDA, but torch sees no CUDA GPU here; "
            "use 'auto' (a GPU when there is one) or 'cpu'."
        )
    devices.check_device(device, flag)  # the index too


def check_reference_device(device: Any, kl_coef: float | None, target_kl: float | None) -> None:
    """``kl_reference_device`` must be a device here, and needs the KL penalty it serves."""
    if device is None:
        return
    check_device(device, "kl_reference_device")
    if not kl_coef and target_kl is None:
        raise ConfigError(
            f"kl_reference_device={device!r} (--kl-reference-device) places "
            "the KL penalty's reference model, but the penalty is off; set --kl-coef or "
            "--target-kl, or drop the option."
        )


def _is_real(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)
