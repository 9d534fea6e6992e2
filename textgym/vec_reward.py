"""Moved to :mod:`textgym.env.vec_reward`; this path keeps existing imports working."""

from textgym.env.vec_reward import VecRewardWrapper

__all__ = ["VecRewardWrapper"]
