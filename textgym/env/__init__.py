"""The token-level text-generation env and what builds, registers, wraps and saves it.

- :class:`TextGenEnv` (``text_gen_env.py``): one step appends one token; the reward scores
  the finished text. The entry point of every registered id (``textgym.env:TextGenEnv``).
- ``prompts.py``: each task's prompt template and the truncation that keeps the instruction.
- ``registration.py``: registers ``envs_registry.yaml``'s ids with Gymnasium.
- ``groups.py``: :func:`make_group_vec_env`, envs in groups of k sharing prompts.
- ``vec_reward.py``: :class:`VecRewardWrapper`, one batched reward call per vector step.
- ``state.py``: a vector env's state, saved with a training checkpoint.

``make_group_vec_env`` and ``VecRewardWrapper`` import Stable-Baselines3 (and torch), so
they are imported only when used.
"""

from textgym.env.prompts import PromptBuilder, PromptTemplate, TaskSpec, task_spec
from textgym.env.registration import read_registry, register_envs
from textgym.env.text_gen_env import TextGenEnv

__all__ = [
    "PromptBuilder",
    "PromptTemplate",
    "TaskSpec",
    "TextGenEnv",
    "VecRewardWrapper",
    "make_group_vec_env",
    "read_registry",
    "register_envs",
    "task_spec",
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
