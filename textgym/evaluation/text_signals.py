"""Per-output hacking signals: how much an output copies its source, how much it repeats itself.

Words are whitespace-separated and lower-cased. Both signals are NaN for an output too short
to hold one n-gram, so the means and bootstrap intervals leave it out.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

COPY_N = 3  # a copied span: three words in a row found in the source
REPEAT_N = 2


def ngrams(words: Sequence[str], n: int) -> list[tuple[str, ...]]:
    """The ``n``-grams of ``words`` in order (none if there are fewer than ``n`` words)."""
    return [tuple(words[i : i + n]) for i in range(len(words) - n + 1)]


def copy_rate(text: str, source: str, n: int = COPY_N) -> float:
    """Share of the output's word ``n``-grams that also occur in ``source`` (NaN: none)."""
    grams = ngrams(text.lower().split(), n)
    if not grams:
        return math.nan
    seen = set(ngrams(source.lower().split(), n))
    return sum(gram in seen for gram in grams) / len(grams)


def repetition(text: str, n: int = REPEAT_N) -> float:
    """``1 - distinct/all`` of the output's word ``n``-grams: 0 when none repeats (NaN: none)."""
    grams = ngrams(text.lower().split(), n)
    if not grams:
        return math.nan
    return 1.0 - len(set(grams)) / len(grams)
