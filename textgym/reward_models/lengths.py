"""How long a response is (in words), and when two responses count as equally long."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

MATCH_WORDS = 3
MATCH_FRACTION = 0.10
MATCH_RULE = (
    f"|words(chosen) - words(rejected)| <= max({MATCH_WORDS}, "
    f"{MATCH_FRACTION:g} * max(words(chosen), words(rejected))), words = len(text.split())"
)


def word_counts(texts: Sequence[str]) -> np.ndarray:
    """Whitespace-separated words per text (``len(text.split())``), shape ``(n,)``, float."""
    return np.array([len(text.split()) for text in texts], dtype=np.float64)


def length_matched(chosen_words: np.ndarray, rejected_words: np.ndarray) -> np.ndarray:
    """Which pairs are length-matched, as a boolean array (the rule is :data:`MATCH_RULE`).

    Two responses are length-matched when their word counts differ by at most
    ``MATCH_WORDS`` (3) words or by at most ``MATCH_FRACTION`` (10 %) of the longer one,
    whichever allows more: 3 words for responses up to 30 words, 10 % beyond.
    """
    gap = np.abs(chosen_words - rejected_words)
    return gap <= np.maximum(MATCH_WORDS, MATCH_FRACTION * np.maximum(chosen_words, rejected_words))
