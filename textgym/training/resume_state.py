"""What a PPO run holds besides its weights and optimizer, to resume it exactly.

Taken at a rollout boundary (after PPO's update, before the next rollout), :func:`capture`
copies the counters and the last observation of SB3's PPO, its episode-info buffers, the
random generators (Python's, NumPy's global one, torch's CPU and CUDA ones), the envs (see
:mod:`textgym.env.state`) and the running state of a reward shaping with one (the KL
penalty's per-episode sums). :func:`restore` puts them into a PPO built with the same
settings, after its weights and optimizer are loaded: its next rollout is then the one the
captured run would have collected, bit for bit on the same machine.

The policy's rollout KV cache is not saved: PPO's update clears it, so every rollout of a
run, resumed or not, starts with an empty cache.
"""

from __future__ import annotations

import copy
import random
from typing import Any

import numpy as np
import torch as th
from stable_baselines3 import PPO

from textgym.env.state import restore_vec_env_state, vec_env_state
from textgym.errors import ConfigError

# SB3 attributes that change while PPO learns (PPO.save keeps its weights and optimizer).
ALGORITHM_STATE = (
    "num_timesteps",
    "_n_updates",
    "_episode_num",
    "_current_progress_remaining",
    "_last_obs",
    "_last_episode_starts",
    "_last_original_obs",
    "ep_info_buffer",
    "ep_success_buffer",
)


def capture(model: PPO) -> dict[str, Any]:
    """A copy of ``model``'s training state (not its weights or optimizer)."""
    shaping = _reward_shaping(model)
    return {
        "algorithm": copy.deepcopy({name: getattr(model, name) for name in ALGORITHM_STATE}),
        "envs": vec_env_state(model.get_env()),
        "reward_shaping": shaping.get_state() if shaping is not None else None,
        "rng": rng_state(),
    }


def restore(model: PPO, state: dict[str, Any]) -> None:
    """Put a :func:`capture` into ``model``; the random generators come last.

    Raises:
        ConfigError: the envs or the reward shaping differ from the captured run's.
    """
    for name, value in copy.deepcopy(state["algorithm"]).items():
        setattr(model, name, value)
    restore_vec_env_state(model.get_env(), state["envs"])
    shaping = _reward_shaping(model)
    if (shaping is None) != (state["reward_shaping"] is None):
        raise ConfigError(
            "The checkpoint was taken with a different reward shaping (KL penalty on or off); "
            "resume with the KL settings (--kl-coef, --target-kl) the run was started with."
        )
    if shaping is not None:
        shaping.set_state(state["reward_shaping"])
    set_rng_state(state["rng"])


def rng_state() -> dict[str, Any]:
    """The state of Python's, NumPy's global, and torch's CPU and CUDA random generators."""
    return {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": th.get_rng_state(),
        "cuda": th.cuda.get_rng_state_all() if th.cuda.is_available() else [],
    }


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore an :func:`rng_state`; CUDA's only where this machine has as many GPUs."""
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    th.set_rng_state(state["torch"])
    if state["cuda"] and th.cuda.is_available() and len(state["cuda"]) == th.cuda.device_count():
        th.cuda.set_rng_state_all(state["cuda"])


def _reward_shaping(model: PPO) -> Any:
    """The rollout buffer's reward shaping if it has a state to save (the KL penalty)."""
    shaping = getattr(model.rollout_buffer, "reward_shaping", None)
    return shaping if hasattr(shaping, "get_state") else None
