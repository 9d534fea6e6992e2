"""ROUGE F-measure rewards (rouge1, rouge2, rougeL, rougeLsum) via ``rouge-score``."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from textgym.errors import ConfigError, unknown_name
from textgym.rewards.base import Reward
from textgym.rewards.batch_checks import check_batch
from textgym.rewards.multi_reference import MULTI_REFERENCE_RULES, check_rule, combine

ROUGE_VARIANTS = ("rouge1", "rouge2", "rougeL", "rougeLsum")
# Variants scored by a longest common subsequence: time and memory grow with |gen| x |ref|.
LCS_VARIANTS = ("rougeL", "rougeLsum")
DEFAULT_MAX_TOKENS = 2048


class Rouge(Reward):
    """ROUGE F-measure of each generation against its references, in [0, 1].

    Uses Google's ``rouge_score.rouge_scorer.RougeScorer`` with a Unicode-aware tokenizer
    (:class:`~textgym.rewards.rouge_tokenizer.RougeTokenizer`): text is lower-cased and
    split into Unicode words; Chinese, Japanese kana, Thai, Lao, Khmer and Myanmar
    characters and emoji are single tokens; ASCII words are Porter-stemmed. On English text
    this gives exactly rouge-score's default scores (``use_stemmer=True``), while Russian,
    Chinese, Arabic, Hebrew or emoji text is scored too (the default tokenizer keeps only
    ``[a-z0-9]`` and scores such text 0.0). With several references a sample scores the
    maximum F-measure over them (``multi_reference="max"``) or their mean (``"mean"``).
    An empty generation scores 0.0.

    ``rougeLsum`` is summary-level LCS: rouge-score splits both texts into sentences **on
    newline characters**, so put one sentence per line in generations and references.
    Text without newlines is one sentence, and ``rougeLsum`` then equals ``rougeL``.

    ``rougeL`` and ``rougeLsum`` build a table of ``len(generation) x len(reference)``
    tokens (a pair of 100k-character texts takes minutes and gigabytes), so they read only
    the first ``max_tokens`` tokens (default 2048) of each text, with a warning the first
    time a text is cut. ``rouge1`` and ``rouge2`` take linear time and read whole texts.

    The scorer is built on first use and is not pickled (it is rebuilt in the new process),
    so the reward can be sent to ``SubprocVecEnv`` workers.

    Args:
        variant: One of ``"rouge1"``, ``"rouge2"``, ``"rougeL"``, ``"rougeLsum"``.
        max_tokens: Tokens read per text by ``rougeL``/``rougeLsum``; None: no limit.
        multi_reference: ``"max"`` or ``"mean"`` of the F-measures against each reference.

    Raises:
        UnknownNameError: ``variant`` is not one of those.
        ConfigError: ``max_tokens`` is not a positive integer or None, or an unknown
            ``multi_reference``.
    """

    MULTI_REFERENCE_RULES = MULTI_REFERENCE_RULES

    def __init__(
        self,
        variant: str = "rougeL",
        max_tokens: int | None = DEFAULT_MAX_TOKENS,
        multi_reference: str = "max",
    ) -> None:
        if variant not in ROUGE_VARIANTS:
            raise unknown_name(
                "ROUGE variant", variant, ROUGE_VARIANTS, fix="Pass one of them, e.g. 'rougeL'."
            )
        if max_tokens is not None and (
            not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1
        ):
            raise ConfigError(
                f"Rouge max_tokens={max_tokens!r} must be a positive integer (e.g. "
                f"{DEFAULT_MAX_TOKENS}), or None to read whole texts."
            )
        self.variant = variant
        self.name = variant
        self.max_tokens = max_tokens
        self.multi_reference = check_rule(multi_reference, f"Rouge({variant!r})")
        self._scorer: Any = None
        self._warned = False

    def __call__(
        self,
        generations: Sequence[str],
        references: Sequence[Sequence[str]],
        sources: Sequence[str],
    ) -> np.ndarray:
        """Return each sample's F-measure (max or mean over its references), shape ``(n,)``."""
        check_batch(self.name, generations, references, sources)
        scorer = self._get_scorer()
        out = np.zeros(len(generations), dtype=np.float64)
        for i, (gen, refs) in enumerate(zip(generations, references, strict=True)):
            if gen.strip():
                gen = self._cap(gen)
                scores = [scorer.score(self._cap(ref), gen)[self.variant].fmeasure for ref in refs]
                out[i] = combine(scores, self.multi_reference)
        return out

    def _cap(self, text: str) -> str:
        """``text`` cut to ``max_tokens`` tokens for the LCS variants; warn the first time."""
        if self.max_tokens is None or self.variant not in LCS_VARIANTS:
            return text
        from textgym.rewards.rouge_tokenizer import truncate

        text, cut = truncate(text, self.max_tokens)
        if cut and not self._warned:
            self._warned = True
            warnings.warn(
                f"{self.variant} read only the first {self.max_tokens} tokens of a longer text "
                f"(its time and memory grow with the product of the two lengths). To read "
                f"more, use Rouge({self.variant!r}, max_tokens=N), or max_tokens=None for "
                f"no limit.",
                stacklevel=3,
            )
        return text

    def _get_scorer(self) -> Any:
        if self._scorer is None:
            from rouge_score import rouge_scorer

            from textgym.rewards.rouge_tokenizer import RougeTokenizer

            self._scorer = rouge_scorer.RougeScorer(
                [self.variant], tokenizer=RougeTokenizer(use_stemmer=True)
            )
        return self._scorer

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_scorer"] = None
        return state

    def __repr__(self) -> str:
        return (
            f"Rouge({self.variant!r}, max_tokens={self.max_tokens!r}, "
            f"multi_reference={self.multi_reference!r})"
        )
