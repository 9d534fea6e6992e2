"""The raw length of a generation in words, as a reward term (e.g. a length penalty)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from textgym.reward_models.lengths import word_counts
from textgym.rewards.base import Reward
from textgym.rewards.batch_checks import check_lengths


class WordCount(Reward):
    """Return ``len(generation.split())`` per sample (registered as ``"word_count"``).

    With a negative weight it subtracts a per-word cost: ``rm:FOLDER:1,word_count:-0.02``
    is the reward model's score minus 0.02 per word, the form in which ``textgym train-rm``
    prints its length-corrected reward. References and sources are not read.
    """

    name = "word_count"
    needs_references = False

    def __call__(
        self,
        generations: Sequence[str],
        references: Sequence[Sequence[str]],
        sources: Sequence[str],
    ) -> np.ndarray:
        """Return the word count of each generation, shape ``(n,)``, float."""
        check_lengths(self.name, generations, references, sources)
        return word_counts(generations)

    def __repr__(self) -> str:
        return "WordCount()"
