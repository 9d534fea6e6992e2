"""textgym: token-level Gymnasium envs for RL fine-tuning of language models.

``import textgym`` registers ``TextSummarize-v0``, ``TextDialogue-v0`` and
``TextTranslate-v0`` with Gymnasium (see ``envs_registry.yaml``).
"""

from textgym.env import TextGenEnv
from textgym.errors import (
    ConfigError,
    DatasetError,
    EnvStateError,
    OutputInUseError,
    RewardError,
    TextGymError,
    UnknownNameError,
)
from textgym.models import DEFAULT_MODEL, load_causal_lm, load_tokenizer
from textgym.registration import register_envs

ENV_IDS = tuple(register_envs())

__all__ = [
    "DEFAULT_MODEL",
    "ENV_IDS",
    "ConfigError",
    "DatasetError",
    "EnvStateError",
    "OutputInUseError",
    "RewardError",
    "TextGenEnv",
    "TextGymError",
    "UnknownNameError",
    "load_causal_lm",
    "load_tokenizer",
]
__version__ = "0.1.0"
