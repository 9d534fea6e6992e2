"""Moved: reward-model training now lives in :mod:`textgym.reward_models`.

Import from there (``from textgym.reward_models import RMConfig, train_reward_model``); this
module re-exports the old names so existing imports keep working.
"""

from textgym.reward_models.config import RMConfig, RMResult
from textgym.reward_models.encoding import format_pair
from textgym.reward_models.model import build_model
from textgym.reward_models.pairs import PAIR_FIELDS, PreferencePair, load_pairs
from textgym.reward_models.splitting import split_pairs
from textgym.reward_models.training import train_reward_model
from textgym.stats.intervals import wilson_interval

__all__ = [
    "PAIR_FIELDS",
    "PreferencePair",
    "RMConfig",
    "RMResult",
    "build_model",
    "format_pair",
    "load_pairs",
    "split_pairs",
    "train_reward_model",
    "wilson_interval",
]
