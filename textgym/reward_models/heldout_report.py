"""Held-out accuracy beside the length heuristics, overall and on length-matched pairs.

A reward model can look accurate by preferring longer responses. So every accuracy is
reported next to two heuristics scored on the same pairs, "longer wins" and "shorter
wins", and again on the length-matched pairs alone (rule: :data:`lengths.MATCH_RULE`),
where length cannot decide. Accuracy counts a tie as half right; each comes with a 95%
Wilson interval. Each scorer's accuracy minus that of "longer wins" on the same pairs comes
with a paired 95% t-interval over the pairs (sharper than comparing two Wilson intervals).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from textgym.reward_models.lengths import MATCH_RULE, length_matched, word_counts
from textgym.reward_models.pairs import PreferencePair
from textgym.stats.intervals import t_interval, wilson_interval


def pair_accuracy(margins: np.ndarray) -> float:
    """Share of pairs with ``score(chosen) > score(rejected)``; ties count one half."""
    return float(np.mean(_correct(margins)))


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
        ``{"accuracy", "ci", "n"}`` (``accuracy`` None and ``ci`` [0, 1] on no pairs);
        and ``minus_longer_wins``: for each scorer in ``margins``, ``{"all": DIFF,
        "length_matched": DIFF}`` with DIFF ``{"difference", "ci", "n"}`` (both None
        below 2 pairs).
    """
    chosen = word_counts([p.chosen for p in pairs])
    rejected = word_counts([p.rejected for p in pairs])
    matched = length_matched(chosen, rejected)
    scorers = {**margins, "longer_wins": chosen - rejected, "shorter_wins": rejected - chosen}
    accuracy = {
        name: {"all": _slice(np.asarray(m)), "length_matched": _slice(np.asarray(m)[matched])}
        for name, m in scorers.items()
    }
    longer = _correct(scorers["longer_wins"])
    differences = {
        name: {
            "all": _difference(_correct(m) - longer),
            "length_matched": _difference((_correct(m) - longer)[matched]),
        }
        for name, m in margins.items()
    }
    return {
        "n_pairs": len(pairs),
        "n_length_matched": int(matched.sum()),
        "length_matched_rule": MATCH_RULE,
        "accuracy": accuracy,
        "minus_longer_wins": differences,
    }


def _correct(margins: np.ndarray) -> np.ndarray:
    """Per pair: 1 right, 0 wrong, 0.5 a tie."""
    margins = np.asarray(margins, dtype=np.float64)
    return (margins > 0) + 0.5 * (margins == 0)


def _difference(per_pair: np.ndarray) -> dict[str, Any]:
    if per_pair.size < 2:
        return {"difference": None, "ci": None, "n": int(per_pair.size)}
    interval = t_interval(per_pair)
    return {"difference": interval.mean, "ci": [interval.low, interval.high], "n": per_pair.size}


def _slice(margins: np.ndarray) -> dict[str, Any]:
    if margins.size == 0:
        return {"accuracy": None, "ci": [0.0, 1.0], "n": 0}
    accuracy = pair_accuracy(margins)
    return {
        "accuracy": accuracy,
        "ci": list(wilson_interval(accuracy, margins.size)),
        "n": margins.size,
    }
