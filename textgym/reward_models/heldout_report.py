"""Held-out accuracy beside the length heuristics, overall and on length-matched pairs.

A reward model can look accurate by preferring longer responses. So every accuracy is
reported next to two heuristics scored on the same pairs, "longer wins" and "shorter
wins", and again on the length-matched pairs alone (rule: :data:`lengths.MATCH_RULE`),
where length cannot decide. Accuracy counts a tie as half right; each comes with a 95%
Wilson interval.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from textgym.reward_models.lengths import MATCH_RULE, length_matched, word_counts
from textgym.reward_models.pairs import PreferencePair
from textgym.stats.intervals import wilson_interval


def pair_accuracy(margins: np.ndarray) -> float:
    """Share of pairs with ``score(chosen) > score(rejected)``; ties count one half."""
    margins = np.asarray(margins, dtype=np.float64)
    return float(np.mean((margins > 0) + 0.5 * (margins == 0)))


def heldout_report(
    pairs: Sequence[PreferencePair], margins: Mapping[str, np.ndarray]
) -> dict[str, Any]:
    """Accuracy of each scorer and of the length heuristics, on all and length-matched pairs.

    Args:
        pairs: The held-out pairs.
        margins: Scorer name -> ``score(chosen) - score(rejected)`` per pair.

    Returns:
        A JSON-ready dict: ``n_pairs``, ``n_length_matched``, ``length_matched_rule`` and
        ``accuracy``: for each scorer in ``margins`` then ``longer_wins`` and
        ``shorter_wins``, ``{"all": SLICE, "length_matched": SLICE}`` where a SLICE is
        ``{"accuracy", "ci", "n"}`` (``accuracy`` None and ``ci`` [0, 1] on no pairs).
    """
    chosen = word_counts([p.chosen for p in pairs])
    rejected = word_counts([p.rejected for p in pairs])
    matched = length_matched(chosen, rejected)
    scorers = {**margins, "longer_wins": chosen - rejected, "shorter_wins": rejected - chosen}
    accuracy = {
        name: {"all": _slice(np.asarray(m)), "length_matched": _slice(np.asarray(m)[matched])}
        for name, m in scorers.items()
    }
    return {
        "n_pairs": len(pairs),
        "n_length_matched": int(matched.sum()),
        "length_matched_rule": MATCH_RULE,
        "accuracy": accuracy,
    }


def _slice(margins: np.ndarray) -> dict[str, Any]:
    if margins.size == 0:
        return {"accuracy": None, "ci": [0.0, 1.0], "n": 0}
    accuracy = pair_accuracy(margins)
    return {
        "accuracy": accuracy,
        "ci": list(wilson_interval(accuracy, margins.size)),
        "n": margins.size,
    }
