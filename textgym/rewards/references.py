"""Which rewards read references, so prompt-only datasets load for the others."""

from __future__ import annotations

from typing import Any

from textgym.rewards.reward_model import RewardModel


def needs_references(reward: Any) -> bool:
    """Whether ``reward`` scores generations against references.

    A reward says so with a boolean ``needs_references`` attribute (built-in rewards
    have one when the answer can be False: :class:`~textgym.rewards.Perplexity`,
    :class:`~textgym.rewards.LengthPenalty` with a fixed target, ...); a
    :class:`~textgym.rewards.RewardModel` reads prompts and generations only. Any other
    reward, a user's function included, is taken to need references: give it
    ``needs_references = False`` to train it on a dataset without them.
    """
    if isinstance(reward, RewardModel):
        return False
    return bool(getattr(reward, "needs_references", True))
