"""textgym: token-level Gymnasium envs for RL fine-tuning of language models.

``import textgym`` registers ``TextSummarize-v0``, ``TextDialogue-v0``, ``TextTranslate-v0``
and the multi-turn ``TextGuessNumber-v0`` and ``TextWordGuess-v0`` with Gymnasium (see
``envs_registry.yaml``); :func:`register_task` adds your own :class:`Task` and an env id for
it, :func:`register_game` your own multi-turn :class:`Game`.
"""

from textgym.env import ConversationEnv, TextGenEnv
from textgym.env.registration import register_envs, register_task
from textgym.errors import (
    ConfigError,
    DatasetError,
    EnvStateError,
    OutputInUseError,
    RewardError,
    TextGymError,
    UnknownNameError,
)
from textgym.games import Game, register_game
from textgym.models import DEFAULT_MODEL, load_causal_lm, load_tokenizer
from textgym.tasks import Task, get_task, known_tasks

ENV_IDS = tuple(register_envs())

__all__ = [
    "DEFAULT_MODEL",
    "ENV_IDS",
    "ConfigError",
    "ConversationEnv",
    "DatasetError",
    "EnvStateError",
    "Game",
    "OutputInUseError",
    "RewardError",
    "Task",
    "TextGenEnv",
    "TextGymError",
    "UnknownNameError",
    "get_task",
    "known_tasks",
    "load_causal_lm",
    "load_tokenizer",
    "make_group_vec_env",
    "register_game",
    "register_task",
]
__version__ = "0.1.0"


def __getattr__(name: str) -> object:
    """Import ``make_group_vec_env`` (and with it SB3 and torch) only when it is used."""
    if name == "make_group_vec_env":
        from textgym.env.groups import make_group_vec_env

        return make_group_vec_env
    raise AttributeError(f"module 'textgym' has no attribute {name!r}")
