"""Groups of k samples per prompt: a vector env whose envs come in blocks sharing examples.

Envs ``[g·k, (g+1)·k)`` form group ``g``. They draw their examples from one seeded stream
(``example_seed``), so the j-th episode of every env of a group is on the same example, and
they pad after EOS (``pad_after_eos``), so every episode lasts ``max_new_tokens`` steps and a
group's k episodes start and end on the same steps even when their EOS comes at different
steps. Membership is therefore positional: (block of envs, episode index), checked by
:class:`~textgym.policies.EpisodeRolloutBuffer`, which also skips the idle padding steps.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import gymnasium as gym
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.vec_env import DummyVecEnv, VecEnv

from textgym.policies.advantages import check_group_size


def make_group_vec_env(
    env_id: str | Callable[..., gym.Env],
    n_envs: int,
    group_size: int,
    seed: int = 0,
    env_kwargs: dict[str, Any] | None = None,
    vec_env_cls: type[VecEnv] = DummyVecEnv,
) -> VecEnv:
    """A vector env (each env in SB3's ``Monitor``) in groups of ``group_size`` envs.

    Args:
        env_id: A registered textgym id (e.g. ``"TextSummarize-v0"``) or an env class/factory.
        n_envs: Number of envs, a multiple of ``group_size``.
        group_size: Samples per prompt (k). 1 gives independent envs, still padded.
        seed: Seeds the envs (env ``i`` with ``seed + i``, as ``make_vec_env``) and the
            groups' example streams.
        env_kwargs: Keyword arguments for every env.
        vec_env_cls: ``DummyVecEnv`` (default) or ``SubprocVecEnv``.
    """
    check_group_size(group_size, n_envs)
    kwargs = dict(env_kwargs or {})
    streams = group_streams(n_envs, group_size, seed)
    venv = vec_env_cls([partial(_make_env, env_id, kwargs, g) for g in streams])
    venv.seed(seed)
    return venv


def group_streams(n_envs: int, group_size: int, seed: int) -> list[int]:
    """The ``example_seed`` of each env: one stream per block of ``group_size`` envs."""
    return [seed * 1_000_003 + rank // group_size for rank in range(n_envs)]


def _make_env(
    env_id: str | Callable[..., gym.Env], kwargs: dict[str, Any], example_seed: int
) -> gym.Env:
    """One padded env of a group, in SB3's ``Monitor`` (episode rewards and lengths)."""
    make = partial(gym.make, env_id) if isinstance(env_id, str) else env_id
    return Monitor(make(**kwargs, example_seed=example_seed, pad_after_eos=True))
