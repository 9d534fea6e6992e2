"""Checks of ``env_kwargs``, ``ppo_kwargs`` and ``policy_kwargs`` against their targets.

A key the target does not take would end in a ``TypeError`` from Gymnasium, SB3 or the
policy after the model has loaded; here it is an error before anything loads, naming the
closest valid key.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import gymnasium as gym
from gymnasium.envs.registration import load_env_creator

from textgym.errors import ConfigError, did_you_mean
from textgym.training.checks import registered_id

# gym.make's own keywords (the rest go to the env)
GYM_MAKE_KEYWORDS = ("max_episode_steps", "disable_env_checker", "render_mode")
# set by PPO's or the policy's caller, never by a keyword of the user's
POSITIONAL = ("self", "policy", "env", "observation_space", "action_space", "lr_schedule")


def keywords(*targets: Callable[..., Any]) -> set[str] | None:
    """The keyword names the ``targets`` take together; None if one takes ``**kwargs``.

    A target whose ``**kwargs`` go on to the next target (``LMPolicy`` to SB3's
    ``ActorCriticPolicy``) is read with that next one, so only the last may take anything.
    """
    names: set[str] = set()
    for i, target in enumerate(targets):
        for p in inspect.signature(target).parameters.values():
            if p.kind is p.VAR_KEYWORD and i == len(targets) - 1:
                return None
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name not in POSITIONAL:
                names.add(p.name)
    return {n for n in names if not n.startswith("_")}


def check_keys(option: str, given: Mapping[str, Any], target: str, valid: Iterable[str]) -> None:
    """Raise a :class:`ConfigError` for the first key of ``given`` not in ``valid``."""
    valid = sorted(valid)
    for key in given:
        if key not in valid:
            flag = "--" + option.replace("_", "-")
            raise ConfigError(
                f"{option} key {key!r} ({flag}) is not an argument of {target}."
                f"{did_you_mean(str(key), valid)} Valid keys: {', '.join(valid)}."
            )


def check_kwargs(
    env_id: str,
    env_kwargs: Mapping[str, Any],
    ppo_kwargs: Mapping[str, Any],
    policy_kwargs: Mapping[str, Any],
) -> None:
    """Raise unless every key of the three ``*_kwargs`` is an argument of its target."""
    from stable_baselines3 import PPO
    from stable_baselines3.common.policies import ActorCriticPolicy

    from textgym.policies import LMPolicy

    entry_point = gym.registry[registered_id(env_id)].entry_point
    creator = load_env_creator(entry_point) if isinstance(entry_point, str) else entry_point
    checks = [
        ("env_kwargs", env_kwargs, f"{env_id} (gym.make)", keywords(creator), GYM_MAKE_KEYWORDS),
        ("ppo_kwargs", ppo_kwargs, "stable-baselines3's PPO", keywords(PPO), ()),
        ("policy_kwargs", policy_kwargs, "LMPolicy", keywords(LMPolicy, ActorCriticPolicy), ()),
    ]
    if "policy_kwargs" in ppo_kwargs:
        raise ConfigError(
            "ppo_kwargs key 'policy_kwargs' (--ppo-kwargs): give the policy's options with "
            "--policy-kwargs (or policy_kwargs=), its one home."
        )
    for option, given, target, valid, extra in checks:
        if valid is not None:  # None: the target takes any keyword
            check_keys(option, given, target, valid | set(extra))
