"""Build a :class:`TextGenVecEnv` as SB3's ``make_vec_env`` or textgym's ``make_group_vec_env``."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import gymnasium as gym
from gymnasium.wrappers import OrderEnforcing, PassiveEnvChecker

from textgym.env.groups import group_streams
from textgym.env.text_gen_env import TextGenEnv
from textgym.env.text_gen_vec_env import TextGenVecEnv
from textgym.errors import ConfigError
from textgym.policies.advantages import check_group_size

EnvId = str | Callable[..., gym.Env]
# What gym.make wraps every env in: checks only, safe to drop for the bare env.
_CHECKS_ONLY = (OrderEnforcing, PassiveEnvChecker)


def make_text_gen_vec_env(
    env_id: EnvId, n_envs: int = 1, seed: int | None = None, env_kwargs: dict | None = None
) -> TextGenVecEnv:
    """SB3's ``make_vec_env(env_id, n_envs, seed, env_kwargs=...)`` as a TextGenVecEnv.

    As SB3 does, env ``i``'s action space is seeded with ``seed + i`` and its first reset
    with ``seed + i`` (a random seed when ``seed`` is None). Unlike SB3 for a string id, no
    ``render_mode`` is asked for.

    Args:
        env_id: A registered textgym id, the TextGenEnv class or a factory of one.
        n_envs: Number of envs.
        seed: See above.
        env_kwargs: Keyword arguments for every env.

    Raises:
        ConfigError: the envs are not TextGenEnvs with one setup (see :class:`TextGenVecEnv`).
    """
    envs = [_make_env(env_id, dict(env_kwargs or {})) for _ in range(n_envs)]
    if seed is not None:
        for rank, env in enumerate(envs):
            env.action_space.seed(seed + rank)
    venv = TextGenVecEnv(envs)
    venv.seed(seed)
    return venv


def make_group_text_gen_vec_env(
    env_id: EnvId, n_envs: int, group_size: int, seed: int = 0, env_kwargs: dict | None = None
) -> TextGenVecEnv:
    """:func:`textgym.make_group_vec_env` (same arguments, same examples) as a TextGenVecEnv.

    Envs ``[g·k, (g+1)·k)`` share group ``g``'s example stream and pad after EOS.

    Args:
        env_id: A registered textgym id, the TextGenEnv class or a factory of one.
        n_envs: Number of envs, a multiple of ``group_size``.
        group_size: Samples per prompt (k).
        seed: Seeds the envs (env ``i`` with ``seed + i``) and the groups' example streams.
        env_kwargs: Keyword arguments for every env (``pad_after_eos`` is set to True).

    Raises:
        ConfigError: ``group_size`` does not divide ``n_envs``.
    """
    check_group_size(group_size, n_envs)
    kwargs = dict(env_kwargs or {}, pad_after_eos=True)
    streams = group_streams(n_envs, group_size, seed)
    venv = TextGenVecEnv([_make_env(env_id, {**kwargs, "example_seed": s}) for s in streams])
    venv.seed(seed)
    return venv


def _make_env(env_id: EnvId, kwargs: dict[str, Any]) -> TextGenEnv:
    """The bare env of ``env_id`` (an id, the class or a factory) with ``kwargs``.

    Raises:
        ConfigError: the env comes in a wrapper that changes it (e.g. ``TimeLimit`` from an
            id's ``max_episode_steps``), which the vector env would drop.
    """
    make = partial(gym.make, env_id) if isinstance(env_id, str) else env_id
    layer = make(**kwargs)
    while isinstance(layer, gym.Wrapper):
        if not isinstance(layer, _CHECKS_ONLY):
            raise ConfigError(
                f"{env_id!r} builds an env wrapped in {type(layer).__name__}, which "
                "TextGenVecEnv would drop. Register or build the env without it, or use "
                "SB3's make_vec_env."
            )
        layer = layer.env
    return layer
