"""The state of a vector env's envs, saved with a checkpoint so a resumed run steps on exactly.

Every layer of every env is saved: a :class:`~textgym.env.TextGenEnv` (or
:class:`~textgym.env.ConversationEnv`) by its ``get_state`` (episode, counters, random
streams; not its data, tokenizer or reward), each wrapper around it (SB3's ``Monitor`` with
its running episode, Gymnasium's order and API checkers) by its attributes. A
:class:`~textgym.env.TextGenVecEnv` (what ``textgym train`` builds for single-turn envs) saves
its own state. Otherwise only a ``DummyVecEnv`` (what it builds for games) is supported: the
envs of a ``SubprocVecEnv`` live in other processes, and a ``VecEnvWrapper`` (e.g.
``VecNormalize``) may hold state of its own.
"""

from __future__ import annotations

import copy
from typing import Any

import gymnasium as gym
from stable_baselines3.common.vec_env import DummyVecEnv, VecEnv

from textgym.env.conversation_env import ConversationEnv
from textgym.env.text_gen_env import TextGenEnv
from textgym.env.text_gen_vec_env import TextGenVecEnv
from textgym.errors import ConfigError

# Wrapper attributes not saved: the wrapped env, construction records, open files.
SKIPPED = ("env", "_cached_spec", "_saved_kwargs", "results_writer")
VEC_ENV_STATE = ("_seeds", "_options")  # what DummyVecEnv.reset uses next


def vec_env_state(venv: VecEnv) -> dict[str, Any]:
    """A copy of the state of ``venv`` and of every layer of each of its envs.

    Raises:
        ConfigError: ``venv`` is neither a ``TextGenVecEnv`` nor a ``DummyVecEnv``.
    """
    if isinstance(venv, TextGenVecEnv):
        return {"text_gen_vec_env": venv.get_state()}
    venv = _dummy(venv)
    return {
        "vec_env": copy.deepcopy({name: getattr(venv, name) for name in VEC_ENV_STATE}),
        "envs": [[_layer_state(layer) for layer in _layers(env)] for env in venv.envs],
    }


def restore_vec_env_state(venv: VecEnv, state: dict[str, Any]) -> None:
    """Put ``venv`` (built as the saved one was) into the saved ``state``.

    Raises:
        ConfigError: ``venv`` is of another kind than the saved one, or its envs differ in
            number or in wrappers from the saved ones.
    """
    if isinstance(venv, TextGenVecEnv) != ("text_gen_vec_env" in state):
        raise ConfigError(
            f"The envs are a {type(venv).__name__}, the checkpoint saved another kind of "
            "vector env. Resume with the textgym version and settings the run was started with."
        )
    if isinstance(venv, TextGenVecEnv):
        venv.set_state(state["text_gen_vec_env"])
        return
    venv = _dummy(venv)
    saved = state["envs"]
    now = [[type(layer).__name__ for layer in _layers(env)] for env in venv.envs]
    kinds = [[layer["type"] for layer in layers] for layers in saved]
    if now != kinds:
        raise ConfigError(
            f"The envs are built differently from the checkpoint's ({len(now)} envs wrapped "
            f"as {now[0]}; the checkpoint has {len(kinds)} wrapped as {kinds[0]}). Resume "
            "with the settings the run was started with."
        )
    for env, layers in zip(venv.envs, saved, strict=True):
        for layer, layer_state in zip(_layers(env), layers, strict=True):
            _restore_layer(layer, layer_state["state"])
    for name, value in state["vec_env"].items():
        setattr(venv, name, copy.deepcopy(value))


def _dummy(venv: VecEnv) -> DummyVecEnv:
    if not isinstance(venv, DummyVecEnv):
        raise ConfigError(
            f"Checkpoints save the envs of a TextGenVecEnv or a DummyVecEnv (what textgym "
            f"train builds), not "
            f"of a {type(venv).__name__}: its envs live in other processes or it holds state "
            "of its own. Train with a DummyVecEnv to checkpoint, or without checkpoints "
            "(--checkpoint-every 0)."
        )
    return venv


def _layers(env: gym.Env) -> list[gym.Env]:
    """``env`` and every env it wraps, outermost first."""
    layers = [env]
    while isinstance(layers[-1], gym.Wrapper):
        layers.append(layers[-1].env)
    return layers


def _layer_state(layer: gym.Env) -> dict[str, Any]:
    if isinstance(layer, (TextGenEnv, ConversationEnv)):
        state = layer.get_state()
    elif isinstance(layer, gym.Wrapper):
        state = copy.deepcopy({k: v for k, v in vars(layer).items() if k not in SKIPPED})
    else:
        raise ConfigError(
            f"Checkpoints save textgym's TextGenEnv, ConversationEnv and the wrappers around "
            f"them, not a "
            f"{type(layer).__name__}; train on a TextGenEnv, or without checkpoints "
            "(--checkpoint-every 0)."
        )
    return {"type": type(layer).__name__, "state": state}


def _restore_layer(layer: gym.Env, state: dict[str, Any]) -> None:
    if isinstance(layer, (TextGenEnv, ConversationEnv)):
        layer.set_state(state)
    else:
        vars(layer).update(copy.deepcopy(state))
