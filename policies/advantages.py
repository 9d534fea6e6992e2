"""Advantages for PPO on text: GAE with a value head, or a baseline from k samples per prompt.

Modes (``EpisodeRolloutBuffer(advantage=...)``):

* ``"gae"``: SB3's GAE with the value head (the default).
* ``"group_mean"``: ``A_t = G_t − mean(R)`` over the group's k episodes.
* ``"rloo"``: leave-one-out, ``A_t = G_t − mean(R of the other k − 1 episodes)``.
* ``"grpo"``: ``A_t = (G_t − mean(R)) / (std(R) + 1e-8)`` (sample std, as in GRPO).

``G_t`` is the return from step ``t`` to the end of its episode (discounted by ``gamma``;
with the KL penalty, per-token KL stays in the rewards, so ``G_t`` differs along an episode)
and ``R = G_0`` is an episode's whole return. Group modes need whole episodes in aligned
rounds, which :func:`textgym.make_group_vec_env` gives.
"""

from __future__ import annotations

import numpy as np

from textgym.errors import ConfigError

ADVANTAGE_MODES = ("gae", "group_mean", "rloo", "grpo")


def check_advantage_mode(mode: str, group_size: int) -> None:
    """Raise unless ``mode`` is known and works with ``group_size`` samples per prompt."""
    if mode not in ADVANTAGE_MODES:
        raise ConfigError(
            f"advantage={mode!r} is not an advantage mode; use one of {list(ADVANTAGE_MODES)}."
        )
    if mode != "gae" and group_size == 1:
        raise ConfigError(
            f"advantage={mode!r} compares the k samples of a prompt, so it needs group_size "
            f">= 2 (got {group_size}). Use group_size=4, say, or advantage='gae'."
        )


def check_group_size(group_size: object, n_envs: int) -> int:
    """Return ``group_size`` if it is an int >= 1 dividing ``n_envs``; raise otherwise."""
    if isinstance(group_size, bool) or not isinstance(group_size, int) or group_size < 1:
        raise ConfigError(f"group_size={group_size!r} must be an integer >= 1 (1: no groups).")
    if n_envs % group_size:
        raise ConfigError(
            f"group_size={group_size} does not divide n_envs={n_envs}: each group is a block "
            f"of group_size envs. Use n_envs = a multiple of {group_size}."
        )
    return group_size


def idle_steps(lengths: np.ndarray, episode_starts: np.ndarray) -> np.ndarray:
    """``(n_steps, n_envs)``: steps whose observation did not grow (padding after EOS)."""
    idle = np.zeros(lengths.shape, dtype=bool)
    idle[1:] = (lengths[1:] == lengths[:-1]) & ~episode_starts[1:].astype(bool)
    return idle


def returns_to_go(rewards: np.ndarray, episode_starts: np.ndarray, gamma: float) -> np.ndarray:
    """``G_t``: discounted sum of the rewards from ``t`` to the end of its episode."""
    returns = np.zeros_like(rewards)
    running = np.zeros(rewards.shape[1], dtype=rewards.dtype)
    for t in reversed(range(rewards.shape[0])):
        if t + 1 < rewards.shape[0]:
            running = running * (1.0 - episode_starts[t + 1])
        running = rewards[t] + gamma * running
        returns[t] = running
    return returns


def group_baselines(
    episode_returns: np.ndarray, group_size: int, mode: str
) -> tuple[np.ndarray, np.ndarray]:
    """``(baseline, scale)`` per env for one round of ``episode_returns`` ``(n_envs,)``."""
    groups = episode_returns.reshape(-1, group_size)
    mean = groups.mean(axis=1, keepdims=True)
    scale = np.ones_like(groups)
    if mode == "rloo":
        baseline = (groups.sum(axis=1, keepdims=True) - groups) / (group_size - 1)
    else:
        baseline = np.broadcast_to(mean, groups.shape)
    if mode == "grpo":
        scale = np.broadcast_to(groups.std(axis=1, ddof=1, keepdims=True) + 1e-8, groups.shape)
    return baseline.reshape(-1), scale.reshape(-1)


def group_advantages(
    returns: np.ndarray, episode_starts: np.ndarray, group_size: int, mode: str
) -> np.ndarray:
    """Advantages of every step from ``returns`` ``G_t`` and aligned rounds of episodes."""
    advantages = np.zeros_like(returns)
    rounds = [*np.flatnonzero(episode_starts[:, 0]), returns.shape[0]]
    for start, end in zip(rounds[:-1], rounds[1:], strict=True):
        baseline, scale = group_baselines(returns[start], group_size, mode)
        advantages[start:end] = (returns[start:end] - baseline) / scale
    return advantages


def check_rounds(episode_starts: np.ndarray, dones: np.ndarray, first_obs: np.ndarray) -> None:
    """Raise unless every env's episodes are whole, aligned rounds with shared prompts.

    Args:
        episode_starts: ``(n_steps, n_envs)`` SB3's episode starts of the rollout.
        dones: ``(n_envs,)`` the rollout's last ``dones``.
        first_obs: ``(n_rounds, n_groups, group_size, L)`` each episode's first ``input_ids``.
    """
    starts = episode_starts.astype(bool)
    aligned = starts[0].all() and (starts == starts[:, :1]).all() and np.asarray(dones).all()
    if not aligned:
        raise ConfigError(
            "Group advantages need every episode whole inside one rollout, with the envs of "
            "a group starting together: build the envs with textgym.make_group_vec_env (it "
            "pads after EOS) and use n_steps = a multiple of max_new_tokens."
        )
    same = (first_obs == first_obs[:, :, :1]).all(axis=-1)
    if not same.all():
        raise ConfigError(
            "The envs of a group started an episode on different prompts: build the envs "
            "with textgym.make_group_vec_env(..., group_size=k), which gives each block of k "
            "envs one example stream."
        )
