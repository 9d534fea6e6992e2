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
- ``text_gen_vec_env.py``: :class:`TextGenVecEnv`, TextGenEnvs stepped together on arrays
  (an SB3 ``VecEnv`` equal to a ``DummyVecEnv`` of them); ``text_gen_vec_factories.py``
  builds it as ``make_vec_env`` and ``make_group_vec_env`` do
  (:func:`make_text_gen_vec_env`, :func:`make_group_text_gen_vec_env`);
  ``text_gen_vec_checks.py`` checks its envs and actions.
- ``vec_reward.py``: :class:`VecRewardWrapper`, one batched reward call per vector step.
- ``state.py``: a vector env's state, saved with a training checkpoint.

The vector envs and ``VecRewardWrapper`` import Stable-Baselines3 (and torch), so they are
imported only when used.
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
    "TextGenVecEnv",
    "VecRewardWrapper",
    "get_task",
    "known_tasks",
    "make_group_text_gen_vec_env",
    "make_group_vec_env",
    "make_text_gen_vec_env",
    "read_registry",
    "register_envs",
    "register_task",
]


def __getattr__(name: str) -> object:
    """Import the vector envs and ``VecRewardWrapper`` (SB3, torch) only when used."""
    if name == "make_group_vec_env":
        from textgym.env.groups import make_group_vec_env

        return make_group_vec_env
    if name == "TextGenVecEnv":
        from textgym.env.text_gen_vec_env import TextGenVecEnv

        return TextGenVecEnv
    if name in ("make_text_gen_vec_env", "make_group_text_gen_vec_env"):
        from textgym.env import text_gen_vec_factories

        return getattr(text_gen_vec_factories, name)
    if name == "VecRewardWrapper":
        from textgym.env.vec_reward import VecRewardWrapper

        return VecRewardWrapper
    raise AttributeError(f"module 'textgym.env' has no attribute {name!r}")
