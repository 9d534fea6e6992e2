"""Rewards: batched callables scoring generations against references, one float each.

Importing this package is cheap: ``rouge_score``, ``sacrebleu``, ``evaluate``, ``nltk`` (for
METEOR) and (for the embedding, perplexity, reward-model and classifier rewards)
``transformers`` are imported the first time a reward that needs them is called (a
classifier reward on a local folder reads its config when built).
"""

from textgym.reward_models.encoding import format_pair
from textgym.rewards.base import Reward, RewardFunction, score
from textgym.rewards.classifier import ClassifierReward
from textgym.rewards.embedding import EmbeddingSimilarity
from textgym.rewards.evaluate_metric import EvaluateMetric
from textgym.rewards.length import LengthPenalty
from textgym.rewards.meteor import Meteor
from textgym.rewards.perplexity import Perplexity
from textgym.rewards.references import needs_references
from textgym.rewards.registry import list_rewards, register_reward
from textgym.rewards.reward_model import RewardModel
from textgym.rewards.rouge import Rouge
from textgym.rewards.sacrebleu_metrics import Bleu, Chrf
from textgym.rewards.spec import make_reward, parse_reward_spec
from textgym.rewards.user import CallableReward
from textgym.rewards.weighted import WeightedSum
from textgym.rewards.word_count import WordCount
from textgym.rewards.zero import ZeroReward

__all__ = [
    "Bleu",
    "CallableReward",
    "Chrf",
    "ClassifierReward",
    "EmbeddingSimilarity",
    "EvaluateMetric",
    "LengthPenalty",
    "Meteor",
    "Perplexity",
    "Reward",
    "RewardModel",
    "RewardFunction",
    "Rouge",
    "WeightedSum",
    "WordCount",
    "ZeroReward",
    "format_pair",
    "list_rewards",
    "make_reward",
    "needs_references",
    "parse_reward_spec",
    "register_reward",
    "score",
]
