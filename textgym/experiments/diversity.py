"""Distinct-n: the share of unique word n-grams among all n-grams of a set of texts."""

from __future__ import annotations

from collections.abc import Sequence

from textgym.evaluation.text_signals import ngrams


def distinct_n(texts: Sequence[str], n: int) -> float:
    """Unique ``n``-grams / all ``n``-grams, pooled over ``texts`` (words split on whitespace).

    Corpus-level, as in Li et al. (2016): a model repeating one answer for every input scores
    low even if each answer is varied. 0.0 when the texts hold no ``n``-gram at all.

    Raises:
        ValueError: ``n`` is not a positive integer.
    """
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"distinct_n needs n >= 1 (got {n!r}); use 1 for words, 2 for pairs.")
    grams = [gram for text in texts for gram in ngrams(text.split(), n)]
    return len(set(grams)) / len(grams) if grams else 0.0
