"""Reward-model training and the tools around it: pairs, duplicates, splits, length fits.

:func:`train_reward_model` trains on preference pairs (:mod:`textgym.reward_models.training`)
as an :class:`RMConfig` says (:mod:`textgym.reward_models.config`) and returns an
:class:`RMResult`; :func:`load_pairs` reads a pairs file. Each other module holds one idea.
Every module imports only numpy and textgym's light modules (torch, transformers and peft
inside functions), so :mod:`textgym.rewards.reward_model` can read a saved length fit and
share :mod:`textgym.reward_models.encoding` without loading torch.
"""

from textgym.reward_models.config import RMConfig, RMResult
from textgym.reward_models.pairs import PreferencePair, load_pairs
from textgym.reward_models.training import train_reward_model

__all__ = ["PreferencePair", "RMConfig", "RMResult", "load_pairs", "train_reward_model"]
