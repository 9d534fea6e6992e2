"""The token-level text-generation env and what builds, registers, wraps and saves it.

- :class:`TextGenEnv` (``text_gen_env.py``): one step appends one token; the reward scores
  the finished text. The entry point of every registered id (``textgym.env:TextGenEnv``).
- :class:`ConversationEnv` (``conversation_env.py``): a multi-turn game against a scripted
  partner (``textgym.games``), one token per step; ``chat_turns.py`` encodes its turns.
- ``prompts.py``: a task's prompt (see :class:`textgym.Task`) and the truncation that keeps
  the instruction.
- ``registration.py``: registers ``envs_registry.yaml``'s ids with Gymnasium, and
  :func:`register_task` your own task (and an env id for it).
- ``groups.py``: :func:`make_group_vec_env`, envs in groups of k sharing prompts.
- ``vec_reward.py``: :class:`VecRewardWrapper`, one batched reward call per vector step.
- ``state.py``: a vector env's state, saved with a training checkpoint.

``make_group_vec_env`` and ``VecRewardWrapper`` import Stable-Baselines3 (and torch), so
they are imported only when used.
"""

from textgym.env.conversation_env import ConversationEnv
from textgym.env.prompts import PromptBuilder, PromptTemplate
from textgym.env.registration import read_registry, register_envs, register_task
from textgym.env.text_gen_env import TextGenEnv
from textgym.tasks import Task, get_task, known_tasks

__all__ = [
    "ConversationEnv",
    "PromptBuilder",
    "PromptTemplate",
    "Task",
    "TextGenEnv",
    "VecRewardWrapper",
    "get_task",
    "known_tasks",
    "make_group_vec_env",
    "read_registry",
    "register_envs",
    "register_task",
]


def __getattr__(name: str) -> object:
    """Import ``make_group_vec_env`` and ``VecRewardWrapper`` (SB3, torch) only when used."""
    if name == "make_group_vec_env":
        from textgym.env.groups import make_group_vec_env

        return make_group_vec_env
    if name == "VecRewardWrapper":
        from textgym.env.vec_reward import VecRewardWrapper

        return VecRewardWrapper
    raise AttributeError(f"module 'textgym.env' has no attribute {name!r}")
