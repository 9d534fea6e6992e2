"""Rewards: batched callables scoring generations against references, one float each.

Importing this package is cheap: ``rouge_score``, ``sacrebleu`` and ``evaluate`` are imported
the first time a reward that needs them is called.
"""

from textgym.rewards.base import Reward, RewardFunction, score
from textgym.rewards.evaluate_metric import EvaluateMetric
from textgym.rewards.length import LengthPenalty
from textgym.rewards.registry import list_rewards, make_reward, register_reward
from textgym.rewards.rouge import Rouge
from textgym.rewards.sacrebleu_metrics import Bleu, Chrf
from textgym.rewards.user import CallableReward
from textgym.rewards.weighted import WeightedSum

__all__ = [
    "Bleu",
    "CallableReward",
    "Chrf",
    "EvaluateMetric",
    "LengthPenalty",
    "Reward",
    "RewardFunction",
    "Rouge",
    "WeightedSum",
    "list_rewards",
    "make_reward",
    "register_reward",
    "score",
]
