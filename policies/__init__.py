"""Stable-Baselines3 policies over Hugging Face causal LMs (installed as ``textgym.policies``)."""

from textgym.policies.episode_buffer import EpisodeRolloutBuffer
from textgym.policies.kl_penalty import KLPenalty, add_kl_penalty
from textgym.policies.lm_policy import LMPolicy
from textgym.policies.sampling import SamplingConfig

__all__ = ["EpisodeRolloutBuffer", "KLPenalty", "LMPolicy", "SamplingConfig", "add_kl_penalty"]
