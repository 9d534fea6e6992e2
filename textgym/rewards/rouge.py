"""ROUGE F-measure rewards (rouge1, rouge2, rougeL, rougeLsum) via ``rouge-score``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from textgym.errors import unknown_name
from textgym.rewards._batch import check_batch
from textgym.rewards.base import Reward

ROUGE_VARIANTS = ("rouge1", "rouge2", "rougeL", "rougeLsum")


class Rouge(Reward):
    """ROUGE F-measure of each generation against its references, in [0, 1].

    Uses Google's ``rouge_score.rouge_scorer.RougeScorer`` with ``use_stemmer=True``
    (Porter stemming, lower-casing, non-alphanumeric characters dropped). With several
    references a sample scores the maximum F-measure over them. An empty generation scores 0.0.

    ``rougeLsum`` is summary-level LCS: rouge-score splits both texts into sentences **on
    newline characters**, so put one sentence per line in generations and references.
    Text without newlines is one sentence, and ``rougeLsum`` then equals ``rougeL``.

    The scorer is built on first use and is not pickled (it is rebuilt in the new process),
    so the reward can be sent to ``SubprocVecEnv`` workers.

    Args:
        variant: One of ``"rouge1"``, ``"rouge2"``, ``"rougeL"``, ``"rougeLsum"``.

    Raises:
        UnknownNameError: ``variant`` is not one of those.
    """

    def __init__(self, variant: str = "rougeL") -> None:
        if variant not in ROUGE_VARIANTS:
            raise unknown_name(
                "ROUGE variant", variant, ROUGE_VARIANTS, fix="Pass one of them, e.g. 'rougeL'."
            )
        self.variant = variant
        self.name = variant
        self._scorer: Any = None

    def __call__(
        self,
        generations: Sequence[str],
        references: Sequence[Sequence[str]],
        sources: Sequence[str],
    ) -> np.ndarray:
        """Return the best F-measure over each sample's references, shape ``(n,)``."""
        check_batch(self.name, generations, references, sources)
        scorer = self._get_scorer()
        out = np.zeros(len(generations), dtype=np.float64)
        for i, (gen, refs) in enumerate(zip(generations, references, strict=True)):
            if gen.strip():
                out[i] = max(scorer.score(ref, gen)[self.variant].fmeasure for ref in refs)
        return out

    def _get_scorer(self) -> Any:
        if self._scorer is None:
            from rouge_score import rouge_scorer

            self._scorer = rouge_scorer.RougeScorer([self.variant], use_stemmer=True)
        return self._scorer

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_scorer"] = None
        return state

    def __repr__(self) -> str:
        return f"Rouge({self.variant!r})"
