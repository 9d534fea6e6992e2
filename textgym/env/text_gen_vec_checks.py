"""The checks of :class:`~textgym.env.text_gen_vec_env.TextGenVecEnv`: its envs, its actions."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from textgym.env.text_gen_env import TextGenEnv
from textgym.errors import ConfigError

#: Settings every env of a TextGenVecEnv shares: read once, from env 0, at construction.
FIXED_SETTINGS = (
    "tokenizer",
    "max_prompt_tokens",
    "max_new_tokens",
    "eos_token_ids",
    "pad_token_id",
    "vocab_size",
    "pad_after_eos",
    "dense",
    "render_mode",
    "observation_space",
    "action_space",
)

#: TextGenEnv's methods whose work the vector env does itself: a subclass may not change them.
STEP_PATH = ("step", "_score", "_ended")


def check_envs(envs: Sequence[TextGenEnv]) -> list[TextGenEnv]:
    """``envs`` as a list, if they are distinct TextGenEnvs with the same :func:`shared_setup`.

    Raises:
        ConfigError: no envs, an env that is not a (bare) TextGenEnv, one instance twice, or
            envs whose tokenizer, limits, end tokens, padding, reward mode or reward differ.
    """
    envs = list(envs)
    if not envs:
        raise ConfigError("TextGenVecEnv needs at least one TextGenEnv; got none.")
    for i, env in enumerate(envs):
        if not isinstance(env, TextGenEnv):
            raise ConfigError(
                f"Env {i} is a {type(env).__name__}, not a textgym.TextGenEnv: TextGenVecEnv "
                "steps bare TextGenEnvs (pass env.unwrapped for a wrapped one; put other envs "
                "in SB3's DummyVecEnv)."
            )
        changed = [m for m in STEP_PATH if getattr(type(env), m) is not getattr(TextGenEnv, m)]
        if changed:
            raise ConfigError(
                f"Env {i} is a {type(env).__name__}, which overrides {changed} of TextGenEnv; "
                "TextGenVecEnv steps the envs itself and would skip them. Put it in SB3's "
                "DummyVecEnv."
            )
    if len({id(env) for env in envs}) != len(envs):
        raise ConfigError(
            "The same TextGenEnv instance is given more than once; build one env per row."
        )
    first = shared_setup(envs[0])
    for i, env in enumerate(envs[1:], start=1):
        differ = [key for key, value in shared_setup(env).items() if value != first[key]]
        if differ:
            raise ConfigError(
                f"Env {i} differs from env 0 in {differ}: the envs of a TextGenVecEnv share "
                "one tokenizer, reward and token limits. Build them with the same arguments "
                "(or put them in SB3's DummyVecEnv)."
            )
    return envs


def shared_setup(env: TextGenEnv) -> dict[str, Any]:
    """What must be equal across the envs of a TextGenVecEnv, comparable with ``==``."""
    return {
        "tokenizer": (
            type(env.tokenizer).__name__,
            env.observation_space["input_ids"].vocab_fingerprint,
            env.pad_token_id,
        ),
        "max_prompt_tokens": env.max_prompt_tokens,
        "max_new_tokens": env.max_new_tokens,
        "eos_token_ids": env.eos_token_ids,
        "pad_after_eos": env.pad_after_eos,
        "reward_mode": "dense" if env.dense else "terminal",
        "reward": describe_reward(env.reward_fn),
        "render_mode": env.render_mode,
    }


def describe_reward(reward: Any) -> tuple[str, str | None, str | None]:
    """A reward's class, name and own ``repr`` (None where the class has none)."""
    own_repr = type(reward).__repr__ is not object.__repr__
    return (
        type(reward).__qualname__,
        getattr(reward, "name", None),
        (repr(reward) if own_repr else None),
    )


def check_actions(actions: Any, num_envs: int, vocab_size: int) -> np.ndarray:
    """``actions`` as ``(num_envs,)`` int64 token ids; anything else is an error."""
    arr = np.asarray(actions)
    if arr.size != num_envs or not np.issubdtype(arr.dtype, np.integer):
        raise ConfigError(
            f"Actions {actions!r} are not {num_envs} integer token ids (one per env)."
        )
    tokens = arr.reshape(num_envs).astype(np.int64)
    bad = tokens[(tokens < 0) | (tokens >= vocab_size)]
    if bad.size:
        raise ConfigError(
            f"Action {int(bad[0])} is outside the vocabulary [0, {vocab_size}); the policy's "
            f"output layer must match the env's tokenizer (len(tokenizer)={vocab_size})."
        )
    return tokens


def check_settable(name: str, indices: Sequence[int], num_envs: int) -> None:
    """Raise if ``name`` is a shared setting that ``set_attr`` must not change.

    ``reward_fn`` may change on all envs at once (the vector env reads it again); the other
    :data:`FIXED_SETTINGS` shape the arrays or the episode and cannot change.
    """
    if name == "reward_fn" and sorted(set(indices)) == list(range(num_envs)):
        return
    if name == "reward_fn" or name in FIXED_SETTINGS:
        which = "on every env at once" if name == "reward_fn" else "after construction"
        raise ConfigError(
            f"{name!r} is shared by all envs of a TextGenVecEnv and can change only {which}. "
            "Build the envs with the setting you want."
        )
